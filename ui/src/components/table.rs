//! Tables with sortable columns and paging. Rows are plain data; each column says how to
//! render a cell and, if sortable, what to sort by.

use leptos::prelude::*;
use std::cmp::Ordering;
use std::sync::Arc;

/// What a sortable column sorts by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    /// Numbers (and times as epoch values).
    Num(i128),
    /// Text, compared as is.
    Text(String),
}

/// One column of a [`DataTable`].
pub struct Column<R> {
    /// The header text.
    pub label: &'static str,
    /// How to sort by this column, if it can be sorted.
    pub sort: Option<fn(&R) -> SortKey>,
    /// The cell's content.
    pub cell: fn(&R) -> AnyView,
}

impl<R> Column<R> {
    /// A column that cannot be sorted.
    pub fn new(label: &'static str, cell: fn(&R) -> AnyView) -> Self {
        Self {
            label,
            sort: None,
            cell,
        }
    }

    /// A sortable column.
    pub fn sorted(label: &'static str, sort: fn(&R) -> SortKey, cell: fn(&R) -> AnyView) -> Self {
        Self {
            label,
            sort: Some(sort),
            cell,
        }
    }
}

/// Rows in `page`-sized pages, sorted by `sort` (column index, ascending) if set.
pub fn arrange<R: Clone>(
    rows: &[R],
    columns: &[Column<R>],
    sort: Option<(usize, bool)>,
    page: usize,
    page_size: usize,
) -> Vec<R> {
    let mut rows = rows.to_vec();
    if let Some((col, ascending)) = sort
        && let Some(key) = columns.get(col).and_then(|c| c.sort)
    {
        rows.sort_by(|a, b| {
            let o = key(a).cmp(&key(b));
            if ascending { o } else { o.reverse() }
        });
    }
    rows.into_iter()
        .skip(page.saturating_mul(page_size))
        .take(page_size)
        .collect()
}

/// A table with a caption, sortable headers (buttons, so keyboard reachable, with
/// `aria-sort`) and previous/next paging.
#[component]
pub fn DataTable<R>(
    /// Screen-reader caption.
    caption: &'static str,
    /// The columns.
    columns: Vec<Column<R>>,
    /// The rows, in server order.
    rows: Vec<R>,
    /// Rows per page.
    #[prop(default = 25)]
    page_size: usize,
    /// Extra class on the `<table>`.
    #[prop(optional)]
    class: &'static str,
) -> impl IntoView
where
    R: Clone + Send + Sync + 'static,
{
    let columns = Arc::new(columns);
    let rows = Arc::new(rows);
    let sort = RwSignal::new(None::<(usize, bool)>);
    let page = RwSignal::new(0usize);
    let total = rows.len();
    let pages = total.div_ceil(page_size.max(1)).max(1);

    let header = {
        let columns = columns.clone();
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let label = c.label;
                if c.sort.is_some() {
                    let aria = move || match sort.get() {
                        Some((col, true)) if col == i => "ascending",
                        Some((col, false)) if col == i => "descending",
                        _ => "none",
                    };
                    let arrow = move || match sort.get() {
                        Some((col, true)) if col == i => " ▲",
                        Some((col, false)) if col == i => " ▼",
                        _ => "",
                    };
                    view! {
                        <th scope="col" aria-sort=aria>
                            <button type="button" class="th-sort" on:click=move |_| {
                                sort.update(|s| {
                                    *s = match *s {
                                        Some((col, asc)) if col == i => Some((i, !asc)),
                                        _ => Some((i, true)),
                                    }
                                });
                                page.set(0);
                            }>{label}{arrow}</button>
                        </th>
                    }
                    .into_any()
                } else {
                    view! { <th scope="col">{label}</th> }.into_any()
                }
            })
            .collect_view()
    };

    let body = move || {
        let shown = arrange(&rows, &columns, sort.get(), page.get(), page_size);
        let columns = columns.clone();
        shown
            .into_iter()
            .map(|row| {
                let cells = columns
                    .iter()
                    .map(|c| view! { <td>{(c.cell)(&row)}</td> })
                    .collect_view();
                view! { <tr>{cells}</tr> }
            })
            .collect_view()
    };

    view! {
        <div class="table-wrap">
            <table class=format!("table {class}")>
                <caption class="sr-only">{caption}</caption>
                <thead><tr>{header}</tr></thead>
                <tbody>{body}</tbody>
            </table>
            <Show when=move || { pages > 1 }>
                <nav class="pager" aria-label="Pages">
                    <button type="button" class="btn btn-small" disabled=move || page.get() == 0
                        on:click=move |_| page.update(|p| *p = p.saturating_sub(1))>"Previous"</button>
                    <span class="muted">{move || format!("Page {} of {pages} · {total} rows", page.get() + 1)}</span>
                    <button type="button" class="btn btn-small" disabled=move || page.get() + 1 >= pages
                        on:click=move |_| page.update(|p| *p = (*p + 1).min(pages - 1))>"Next"</button>
                </nav>
            </Show>
        </div>
    }
}

/// Orders two optional numbers with missing values last.
pub fn cmp_missing_last(a: Option<i128>, b: Option<i128>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<Column<(u32, &'static str)>> {
        vec![
            Column::sorted("n", |r| SortKey::Num(r.0.into()), |_| ().into_any()),
            Column::sorted("s", |r| SortKey::Text(r.1.into()), |_| ().into_any()),
            Column::new("x", |_| ().into_any()),
        ]
    }

    #[test]
    fn sorts_and_pages() {
        let rows = vec![(3, "c"), (1, "b"), (2, "a")];
        let c = cols();
        assert_eq!(arrange(&rows, &c, None, 0, 2), vec![(3, "c"), (1, "b")]);
        assert_eq!(
            arrange(&rows, &c, Some((0, true)), 0, 2),
            vec![(1, "b"), (2, "a")]
        );
        assert_eq!(arrange(&rows, &c, Some((0, true)), 1, 2), vec![(3, "c")]);
        assert_eq!(
            arrange(&rows, &c, Some((1, false)), 0, 3),
            vec![(3, "c"), (1, "b"), (2, "a")]
        );
        // An unsortable column leaves server order.
        assert_eq!(arrange(&rows, &c, Some((2, true)), 0, 3), rows);
        assert!(arrange(&rows, &c, None, 5, 2).is_empty());
        assert_eq!(cmp_missing_last(None, Some(1)), Ordering::Greater);
    }
}
