"""Tickets as the list shows them: the filter form and its fields, the canonical query string,
counts walked in the background, names looked up, the next page fetched ahead, quoted text
folded, and the CSV export."""
