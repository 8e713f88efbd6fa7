"""The ticket index: every ticket as the store's webhooks last described it (`receiver`), for
the counts and attention work that read it."""
