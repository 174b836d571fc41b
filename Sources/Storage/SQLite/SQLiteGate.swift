/// Serializes the store's writers (a transaction spans several calls on the one write
/// connection) and lets `close()` wait for in-flight work before the handles go away.
actor SQLiteGate {
    private var closed = false
    private var writing = false
    private var readers = 0
    private var writeWaiters: [CheckedContinuation<Void, Never>] = []
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []

    func enterWrite() async throws(SQLiteStoreError) {
        guard !closed else { throw .closed }
        if writing {
            // Ownership is handed over by exitWrite(); writers queued before close() still run.
            await withCheckedContinuation { writeWaiters.append($0) }
        } else {
            writing = true
        }
    }

    func exitWrite() {
        if writeWaiters.isEmpty {
            writing = false
            drained()
        } else {
            writeWaiters.removeFirst().resume()
        }
    }

    func enterRead() throws(SQLiteStoreError) {
        guard !closed else { throw .closed }
        readers += 1
    }

    func exitRead() {
        readers -= 1
        drained()
    }

    /// Marks the store closed and waits for running work; `false` when it was already closed.
    func close() async -> Bool {
        guard !closed else { return false }
        closed = true
        while writing || readers > 0 {
            await withCheckedContinuation { drainWaiters.append($0) }
        }
        return true
    }

    private func drained() {
        guard !writing, readers == 0 else { return }
        let waiters = drainWaiters
        drainWaiters.removeAll()
        for w in waiters { w.resume() }
    }
}
