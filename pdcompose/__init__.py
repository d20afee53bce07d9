"""pdcompose: prefill/decode-disaggregated vLLM on plain Docker hosts.

Data flows one way: topology -> plan -> files -> hosts. Importing this package must stay cheap
(`pdcompose --help` is benchmarked), so nothing heavy is imported here.
"""

__version__ = "0.1.0"
