//! An invoice or credit note as a one-page A4 PDF, rendered in Rust with pdf-writer and the
//! standard Helvetica font (nothing embedded). Text is WinAnsi (Latin-1 here): a character
//! outside it prints as `?` rather than as mojibake.

use crate::config::InvoiceConfig;
use crate::store::InvoiceRecord;
use fdt_api::money::display;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// Most bytes of one printed line (longer ones are cut at a character boundary).
const MAX_LINE: usize = 110;

/// `text` as WinAnsi bytes: Latin-1 characters as themselves, anything else as `?`, control
/// characters dropped; at most [`MAX_LINE`] characters.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_LINE)
        .map(|c| {
            u8::try_from(u32::from(c))
                .ok()
                .filter(|b| *b >= 0x20)
                .unwrap_or(b'?')
        })
        .collect()
}

/// Renders `inv` issued by the seller in `cfg`.
pub fn render(inv: &InvoiceRecord, cfg: &InvoiceConfig) -> Vec<u8> {
    let mut lines: Vec<(f32, String)> = Vec::new();
    let title = if inv.kind == "credit_note" {
        format!("Credit note {}", inv.display_number())
    } else {
        format!("Invoice {}", inv.display_number())
    };
    lines.push((18.0, title));
    if let Some(c) = &inv.corrects {
        lines.push((10.0, format!("Corrects invoice {c}")));
    }
    let day = inv.issued_at.date();
    lines.push((10.0, format!("Issued {day}")));
    lines.push((10.0, String::new()));
    lines.push((11.0, cfg.seller_name.clone()));
    for l in cfg.seller_address.lines() {
        lines.push((10.0, l.to_owned()));
    }
    lines.push((10.0, cfg.seller_country.clone()));
    if let Some(v) = &cfg.seller_vat_id {
        lines.push((10.0, format!("VAT ID {v}")));
    }
    lines.push((10.0, String::new()));
    lines.push((11.0, "Bill to".into()));
    lines.push((10.0, inv.customer_name.clone()));
    for l in inv.customer_address.lines().take(8) {
        lines.push((10.0, l.to_owned()));
    }
    if let Some(c) = &inv.customer_country {
        lines.push((10.0, c.clone()));
    }
    if let Some(v) = &inv.customer_vat_id {
        lines.push((10.0, format!("VAT ID {v}")));
    }
    lines.push((10.0, String::new()));
    lines.push((10.0, inv.description.clone()));
    lines.push((10.0, format!("Net: {}", display(inv.net, &inv.currency))));
    let rate = format!("{}.{:02} %", inv.tax_rate_bp / 100, inv.tax_rate_bp % 100);
    lines.push((
        10.0,
        format!("VAT {rate}: {}", display(inv.tax, &inv.currency)),
    ));
    lines.push((
        12.0,
        format!("Total: {}", display(inv.total, &inv.currency)),
    ));
    if inv.reverse_charge {
        lines.push((10.0, String::new()));
        lines.push((10.0, super::tax::REVERSE_CHARGE_NOTE.into()));
    }

    let (catalog, tree, page_id, font, content_id) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
    );
    let font_name = Name(b"F1");
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, 595.0, 842.0));
    page.parent(tree);
    page.contents(content_id);
    page.resources().fonts().pair(font_name, font);
    page.finish();
    pdf.type1_font(font)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    let mut content = Content::new();
    let mut y = 790.0;
    for (size, text) in &lines {
        content.begin_text();
        content.set_font(font_name, *size);
        content.next_line(56.0, y);
        content.show(Str(&win_ansi(text)));
        content.end_text();
        y -= size * 1.5;
    }
    pdf.stream(content_id, &content.finish());
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_latin1_or_a_question_mark() {
        assert_eq!(win_ansi("Müller GmbH"), b"M\xfcller GmbH");
        assert_eq!(win_ansi("日本 Ltd\n"), b"?? Ltd");
        assert_eq!(win_ansi(&"x".repeat(500)).len(), MAX_LINE);
    }
}
