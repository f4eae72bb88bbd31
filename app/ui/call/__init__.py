"""Call window widgets: remote video, preview, controls, network bars, stats, chat,
incoming-call dialog; and ``CallService``, the GUI-side owner of the media engine."""
