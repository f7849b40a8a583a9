import HDF5

/// Creates a classification dataset file with the prepare_data.py root attributes; the caller
/// writes the splits and closes it.
func createClassificationDataset(
    at path: String, labelNames: [String], labelTokenIDs: [Int64], tokenizerFingerprint: String
) throws -> HDF5File {
    let file = try HDF5File.create(path)
    try file.root.attributes.set("format", "ttl-train-dataset")
    try file.root.attributes.set("format_version", Int64(1))
    try file.root.attributes.set("task", "classification")
    try file.root.attributes.set("label_names", labelNames)
    try file.root.attributes.set("label_token_ids", labelTokenIDs)
    try file.root.attributes.set("tokenizer_fingerprint", tokenizerFingerprint)
    return file
}
