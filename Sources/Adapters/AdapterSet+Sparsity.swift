import Kernels

/// Sparse LoRA's pruning and the packed gradient that only carries unpruned entries.
extension AdapterSet {
    /// Re-prunes every sparse LoRA tensor if the schedule prunes at `step`: each of `A` and `B`
    /// keeps its largest-magnitude entries so that its sparsity is the schedule's. Entries pruned
    /// before stay pruned (they are zero, and ties go to the already pruned), and pruned values are
    /// set to exactly zero. Returns whether it pruned.
    @discardableResult
    public func prune(step: Int) -> Bool {
        guard let schedule = layout.spec.sparsity, schedule.prunes(at: step) else { return false }
        let sparsity = schedule.sparsity(at: step)
        for entry in layout.entries where entry.kind.method.isMasked {
            for tensor in entry.tensors {
                let pruned = tensor.count - SparsitySchedule.kept(count: tensor.count, sparsity: sparsity)
                let order = tensor.range.sorted { left, right in
                    let (leftMask, rightMask) = (masks.pointer[left], masks.pointer[right])
                    if leftMask != rightMask { return leftMask < rightMask }
                    let (leftSize, rightSize) = (abs(parameters.pointer[left]), abs(parameters.pointer[right]))
                    return leftSize != rightSize ? leftSize < rightSize : left < right
                }
                for index in order.prefix(pruned) {
                    masks.pointer[index] = 0
                    parameters.pointer[index] = 0
                }
            }
        }
        return true
    }

    /// Parameters that train: the unpruned ones.
    public var trainableCount: Int {
        Int(VectorMath.sum(masks.pointer, count: masks.count))
    }

    /// The fraction of `tensor` that is pruned.
    public func sparsity(of tensor: AdapterTensor) -> Double {
        let kept = VectorMath.sum(masks.at(tensor.offset), count: tensor.count)
        return 1 - kept / Double(tensor.count)
    }

    /// The gradients of the unpruned parameters, in buffer order: what the all-reduce sends.
    /// Every rank has the same masks, so every rank packs the same positions.
    public func packedGradients() -> [Float] {
        var packed: [Float] = []
        packed.reserveCapacity(trainableCount)
        for index in 0..<gradients.count where masks.pointer[index] != 0 { packed.append(gradients.pointer[index]) }
        return packed
    }

    /// Writes `packed` (from `packedGradients`, e.g. after the reduction) back; pruned entries get 0.
    public func unpackGradients(_ packed: [Float]) {
        precondition(packed.count == trainableCount, "packed gradient has \(packed.count) entries, \(trainableCount) expected")
        var cursor = 0
        for index in 0..<gradients.count {
            if masks.pointer[index] != 0 {
                gradients.pointer[index] = packed[cursor]
                cursor += 1
            } else {
                gradients.pointer[index] = 0
            }
        }
    }
}
