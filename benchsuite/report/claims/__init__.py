"""Claims a leaderboard tests on its own numbers: one Claim type and one verdict rule (`rule`), and a module per family
of claims (ShrinkBench's, the stages', structured sparsity's, language models'). The leaderboards compose them."""
