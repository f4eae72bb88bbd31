"""YiQiao hub: the hospital-side server clients sync and call through."""
