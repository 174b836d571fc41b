#if canImport(Glibc)
import Glibc
#endif

// libFuzzer's driver, called from this module's main (SwiftPM renames an executable's main and
// points the linker's `main` at it, so libFuzzer's own main cannot be used). Every Fuzz* target's
// main.swift is a symlink to this file; each target's Entry.swift defines its fuzzOneInput.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
