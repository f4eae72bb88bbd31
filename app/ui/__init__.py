"""Every Qt widget lives here; the cores stay Qt-free."""
