//! Criterion benchmarks of the mesh crates' hot paths, each beside the
//! baseline it is compared to in the same run (`cargo bench -p
//! mesh-benches`). The benchmarks live in `benches/`; this library is empty.
