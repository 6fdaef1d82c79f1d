"""The top of the toolkit: the `rasp` command (`rasp_toolkit.cli`), which wires the language
(`rasp`), the compiler (`compiler`) and the Turing machine harness (`turing`); it parses
arguments and prints, and the libraries it calls live below it.  Nothing below imports this
package (docs/architecture.md)."""
