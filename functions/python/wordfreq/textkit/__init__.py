"""textkit: small pure-Python text helpers bundled with the wordfreq sample."""
