// swift-tools-version:6.0
import PackageDescription

/// Module layout follows docs/DESIGN.md's layer table: C shims at the bottom, then the typed Swift
/// wrappers, then the model, and the command line on top. Each module depends only on those below.
let package = Package(
    name: "ttl-train",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ttl-train", targets: ["ttl-train"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // System libraries found through pkg-config. Each shim header also turns the macros Swift
        // cannot import (MPI_COMM_WORLD, H5P_DEFAULT, ...) into tiny static inline C functions.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // ttl-train's own C kernels (the row-stable GEMM, CPUID) and the choice of OpenBLAS's kernel
        // before main; intrinsics are enabled per function, so no target-wide machine flags.
        .target(name: "CKernels", dependencies: ["CBLAS"]),

        .target(name: "HDF5", dependencies: ["CHDF5"]),
        .target(name: "Distributed", dependencies: ["CMPI", "Kernels"]),
        .target(name: "Kernels", dependencies: ["CBLAS", "CKernels"]),
        .target(name: "Llama", dependencies: ["HDF5", "Kernels"]),
        .target(name: "Adapters", dependencies: ["Llama", "Kernels"]),
        // Hugging Face byte-level BPE tokenizers (tokenizer.json) and the ChatML template.
        .target(name: "Tokenizer"),
        // The part of jinja2 that chat templates use, rendered as Python's jinja2 renders it.
        .target(name: "Jinja"),
        // Chat templates as models ship them (tokenizer_config.json), rendered with Jinja.
        .target(name: "ChatTemplates", dependencies: ["Jinja"]),
        // JSON Lines data (chat, completions, text, alpaca) to the dataset file.
        .target(name: "DataImport", dependencies: ["ChatTemplates", "Jinja", "Tokenizer", "Llama", "HDF5"]),
        // Strict YAML (job specs, compression plans) and bounded text files.
        .target(name: "SpecFiles", dependencies: ["Yams"]),
        .target(
            name: "Training",
            dependencies: ["Distributed", "Adapters", "Llama", "Kernels", "HDF5", "SpecFiles", "Yams"]),
        .target(name: "Compression", dependencies: ["Llama", "Kernels", "HDF5", "SpecFiles", "Yams"]),
        .target(
            name: "Sweeps",
            dependencies: ["Compression", "Training", "Distributed", "Adapters", "Llama", "HDF5", "SpecFiles"]),
        .target(name: "Export", dependencies: ["Training", "Adapters", "Llama", "Kernels", "HDF5"]),
        .executableTarget(
            name: "ttl-train",
            dependencies: [
                "HDF5", "Distributed", "Kernels", "Llama", "Adapters", "SpecFiles", "Training", "Compression", "Sweeps",
                "Export", "Tokenizer",
                "ChatTemplates", "DataImport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Shared by the test targets: temporary directories, child processes, repository files.
        .target(
            name: "TestSupport", dependencies: ["Llama", "Kernels", "CKernels", "HDF5"], path: "Tests/TestSupport"),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "TestSupport"], exclude: ["h5py_interop.py"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels", "TestSupport"]),
        .testTarget(name: "LlamaTests", dependencies: ["Llama", "HDF5", "Kernels", "CKernels", "TestSupport"]),
        .testTarget(name: "AdaptersTests", dependencies: ["Adapters", "Llama", "Kernels", "HDF5", "TestSupport"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Distributed", "Llama", "Kernels", "Adapters", "HDF5", "TestSupport"],
            exclude: ["metrics_reader.py"]),
        .testTarget(
            name: "CompressionTests",
            dependencies: [
                "Compression", "Training", "Distributed", "Adapters", "Llama", "Kernels", "HDF5", "TestSupport",
            ]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TestSupport"]),
        .testTarget(name: "JinjaTests", dependencies: ["Jinja", "TestSupport"], exclude: ["render_reference.py"]),
        .testTarget(name: "CLITests", dependencies: ["ttl-train", "HDF5", "Llama", "Kernels", "TestSupport"]),
    ]
)
