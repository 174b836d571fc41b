extension Array {
    /// Hands every element to `body` in order, moving each out of the array, and leaves the array
    /// empty with its capacity kept. Iterating (`for e in array`, or through its buffer) copies each
    /// element and `removeAll` then destroys the originals: for an event holding references that is
    /// a retain and a release per event and stage (docs/performance.md, "Handler against handler").
    @inlinable
    public mutating func drain(_ body: (consuming Element) -> Void) {
        guard !isEmpty else { return }
        // Moves, not copies: reverse swaps in place, and popLast hands its element over.
        if count > 1 { reverse() }
        while let e = popLast() { body(e) }
    }
}
