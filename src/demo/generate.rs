// placeholder until the generator lands
pub struct DemoData { pub accounts: usize, pub seed: u64, pub months: u32 }
pub struct GenSummary { pub accounts: usize, pub services: usize, pub usage: usize, pub invoice_lines: usize, pub planted_bad_rows: usize }
pub async fn write_legacy_sqlite(_db_path: &std::path::Path, _data: &DemoData) -> Result<GenSummary, sqlx::Error> { Err(sqlx::Error::Protocol("generator not built yet".into())) }
