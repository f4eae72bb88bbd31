"""YiQiao (医桥) desktop consultation client."""

__version__ = "0.1.0"
APP_NAME = "YiQiao"
APP_ORG = "YiQiao"
