import CKernels

/// The layout every frozen dense matrix of the base model is kept in: bands of 32 rows, each
/// stored column by column (`ttl_panels_pack`), the order the GEMM's micro-kernels read `Wᵀ` in.
/// Written once when the weights load, so a forward pass multiplies by the weights in place
/// instead of transposing each of them on every call; the backward product and single rows read
/// the same memory. The bits of every product are those of the row-major matrix.
public enum WeightPanels {
    /// Floats a `(rows, columns)` matrix takes in panels: rows rounded up to a whole band.
    public static func floatCount(rows: Int, columns: Int) -> Int {
        ttl_panels_float_count(rows, columns)
    }

    /// Lays out the row-major `matrix (rows, columns)` in panels at `panels`.
    public static func pack(_ matrix: [Float], rows: Int, columns: Int, into panels: UnsafeMutablePointer<Float>) {
        precondition(matrix.count == rows * columns, "a (rows, columns) matrix")
        matrix.withUnsafeBufferPointer { ttl_panels_pack($0.baseAddress!, rows, columns, panels) }
    }

    /// Row `row` of the `(rows, columns)` matrix at `panels`, into `out`.
    public static func copyRow(_ row: Int, of panels: UnsafePointer<Float>, columns: Int, into out: UnsafeMutablePointer<Float>) {
        ttl_panels_row(panels, columns, row, out)
    }
}
