"""The top of the toolkit: the `rasp` command (`rasp_toolkit.cli`), which wires the language
(`rasp`), the compiler (`compiler`) and the Turing machine harness (`turing`), and the compiler
fuzzer (`rasp_toolkit.fuzz`), which needs both the language's front end and the compiler.
Nothing below imports this package (docs/architecture.md)."""
