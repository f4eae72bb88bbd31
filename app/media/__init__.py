"""Media engine for video consultations (Qt-free, runs on the asyncio thread)."""
