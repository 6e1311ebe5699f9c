//! The design system: layout, tables, forms, toasts, states, charts and code views. Styles are
//! in `style/fdt.css` (plain CSS, light and dark themes by `data-theme`).

pub mod chart;
pub mod code;
pub mod form;
pub mod layout;
pub mod replay;
pub mod states;
pub mod table;
pub mod toast;
