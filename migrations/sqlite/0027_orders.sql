-- Paying once (an order at Razorpay or PayPal) buys a plan for a fixed period without
-- renewal. Such a purchase is a row in subscriptions that does not renew and ends by itself
-- when its period does; its checkout is marked as an order.
ALTER TABLE subscriptions ADD COLUMN renews INTEGER NOT NULL DEFAULT 1;
ALTER TABLE billing_checkouts ADD COLUMN once INTEGER NOT NULL DEFAULT 0;
CREATE INDEX subscriptions_passes ON subscriptions (period_end) WHERE renews = 0;
