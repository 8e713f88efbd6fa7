"""Saved views: the rules of who sees and changes which (`saved_views`), and their forms."""
