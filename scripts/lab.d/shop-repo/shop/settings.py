"""Settings of the shop app (the few the lab's Django reads)."""
import os

DEBUG = False
ALLOWED_HOSTS = ["*"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("SHOP_DB_NAME", "shop"),
        "USER": os.environ.get("SHOP_DB_USER", "shop"),
        "HOST": os.environ.get("SHOP_DB_HOST", ""),
    }
}
STATIC_ROOT = "static"
