"""Tests (a package, so `import torch` never resolves to tests/torch)."""
