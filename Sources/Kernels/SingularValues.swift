import CBLAS

/// The singular value decomposition through LAPACK's `sgesdd` (from OpenBLAS): what Tucker/HOSVD
/// compression needs of a matrix — its left singular vectors, largest first.
public enum SingularValues {
    /// `matrix (rows, columns)` row-major = `U·diag(σ)·Vᵀ`: returns `U (rows, k)` row-major and
    /// `σ` (descending), `k = min(rows, columns)`.
    public static func leftVectors(of matrix: [Float], rows: Int, columns: Int) throws -> (vectors: [Float], values: [Float]) {
        precondition(matrix.count == rows * columns && rows > 0 && columns > 0)
        // A row-major (rows, columns) buffer is the column-major Aᵀ (columns, rows); Aᵀ = V·Σ·Uᵀ,
        // so LAPACK's VT of Aᵀ (k, rows), column-major, is U (rows, k) in row-major order.
        var a = matrix
        var m = Int32(columns), n = Int32(rows)
        let k = min(rows, columns)
        var lda = m, ldu = m, ldvt = Int32(k)
        var values = [Float](repeating: 0, count: k)
        var u = [Float](repeating: 0, count: columns * k)
        var vt = [Float](repeating: 0, count: k * rows)
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var info: Int32 = 0
        var query: Float = 0
        var lwork: Int32 = -1
        sgesdd_("S", &m, &n, &a, &lda, &values, &u, &ldu, &vt, &ldvt, &query, &lwork, &iwork, &info, 1)
        guard info == 0 else { throw LAPACKError(routine: "sgesdd", info: Int(info)) }
        lwork = Int32(query)
        var work = [Float](repeating: 0, count: Int(lwork))
        sgesdd_("S", &m, &n, &a, &lda, &values, &u, &ldu, &vt, &ldvt, &work, &lwork, &iwork, &info, 1)
        guard info == 0 else { throw LAPACKError(routine: "sgesdd", info: Int(info)) }
        // vt is column-major (k, rows): element (i, j) at i + j·k, i.e. U[j][i]: row-major (rows, k).
        return (vt, values)
    }
}

/// A LAPACK routine that did not succeed (`info` as LAPACK reports it: < 0 a bad argument, > 0
/// no convergence).
public struct LAPACKError: Error, CustomStringConvertible, Sendable {
    public let routine: String
    public let info: Int

    public var description: String {
        info > 0 ? "\(routine) did not converge (info \(info))" : "\(routine): argument \(-info) is invalid"
    }
}
