//! The bpf backend (in progress).

/// Whether this kernel can run the bpf backend.
pub async fn works() -> Result<(), String> {
    Err("the bpf backend is not built yet".into())
}
