//! Certificates the relay serves: a store chosen by SNI, and the local development CA that
//! mints them on demand for `*.localhost`.

pub mod certs;
pub mod dev_ca;
pub mod on_demand;

pub use certs::CertStore;
pub use dev_ca::DevCa;
pub use on_demand::OnDemandResolver;
