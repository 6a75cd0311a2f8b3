"""Settings of the corpus project: popular third-party apps and their migration histories.

The database comes from ``DATABASE_URL`` (``sqlite:///path`` or ``postgres://user@host:port/name``;
default: ``corpus.sqlite3`` beside this project). PostgreSQL-only apps are installed only when the
database is PostgreSQL. Bundles go to ``CORPUS_BUNDLE_ROOT`` (default: ``migration_bundles`` here).
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from oscar.defaults import *  # noqa: F403  (Oscar reads its settings at import time)

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "corpus-project-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "corpus_project.urls"
SITE_ID = 1
STATIC_URL = "/static/"
MEDIA_ROOT = BASE_DIR / "media"


def database_from_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(parts.path[1:] or "")}
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r}")


DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'corpus.sqlite3'}")
    )
}
POSTGRESQL = DATABASES["default"]["ENGINE"].endswith("postgresql")

MIGRATION_STUDIO = {
    "BUNDLE_ROOT": os.environ.get("CORPUS_BUNDLE_ROOT", str(BASE_DIR / "migration_bundles")),
}
if os.environ.get("CORPUS_CACHE_DIR"):
    MIGRATION_STUDIO["CACHE_DIR"] = os.environ["CORPUS_CACHE_DIR"]

DJANGO_CONTRIB = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.flatpages",
    "django.contrib.redirects",
]

WAGTAIL = [
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.contrib.settings",
    "wagtail.contrib.search_promotions",
    "wagtail.contrib.simple_translation",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail.locales",
    "wagtail",
    "modelcluster",
    "taggit",
]

OSCAR = [
    "oscar.config.Shop",
    "oscar.apps.analytics.apps.AnalyticsConfig",
    "oscar.apps.checkout.apps.CheckoutConfig",
    "oscar.apps.address.apps.AddressConfig",
    "oscar.apps.shipping.apps.ShippingConfig",
    "oscar.apps.catalogue.apps.CatalogueConfig",
    "oscar.apps.catalogue.reviews.apps.CatalogueReviewsConfig",
    "oscar.apps.communication.apps.CommunicationConfig",
    "oscar.apps.partner.apps.PartnerConfig",
    "oscar.apps.basket.apps.BasketConfig",
    "oscar.apps.payment.apps.PaymentConfig",
    "oscar.apps.offer.apps.OfferConfig",
    "oscar.apps.order.apps.OrderConfig",
    "oscar.apps.customer.apps.CustomerConfig",
    "oscar.apps.search.apps.SearchConfig",
    "oscar.apps.voucher.apps.VoucherConfig",
    "oscar.apps.wishlists.apps.WishlistsConfig",
    "oscar.apps.dashboard.apps.DashboardConfig",
    "oscar.apps.dashboard.reports.apps.ReportsDashboardConfig",
    "oscar.apps.dashboard.users.apps.UsersDashboardConfig",
    "oscar.apps.dashboard.orders.apps.OrdersDashboardConfig",
    "oscar.apps.dashboard.catalogue.apps.CatalogueDashboardConfig",
    "oscar.apps.dashboard.offers.apps.OffersDashboardConfig",
    "oscar.apps.dashboard.partners.apps.PartnersDashboardConfig",
    "oscar.apps.dashboard.pages.apps.PagesDashboardConfig",
    "oscar.apps.dashboard.ranges.apps.RangesDashboardConfig",
    "oscar.apps.dashboard.reviews.apps.ReviewsDashboardConfig",
    "oscar.apps.dashboard.vouchers.apps.VouchersDashboardConfig",
    "oscar.apps.dashboard.communications.apps.CommunicationsDashboardConfig",
    "oscar.apps.dashboard.shipping.apps.ShippingDashboardConfig",
    "widget_tweaks",
    "haystack",
    "treebeard",
    "django_tables2",
]

CMS = [
    "cms",
    "menus",
    "sekizai",
    "filer",
    "easy_thumbnails",
    "polymorphic",
]

OTHERS = [
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.mfa",
    "allauth.usersessions",
    "oauth2_provider",
    "django_celery_beat",
    "django_celery_results",
    "django_otp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_hotp",
    "django_otp.plugins.otp_email",
    "two_factor",
    "reversion",
    "guardian",
    "auditlog",
    "simple_history",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_simplejwt.token_blacklist",
    "waffle",
    "constance",
    "django_comments",
]

POSTGRESQL_ONLY = [
    "django.contrib.postgres",
    "procrastinate.contrib.django",
    "pgtrigger",
    "pghistory",
]

# CORPUS_LEAVE_OUT: comma-separated entries of INSTALLED_APPS to leave out (run.py --leave-out).
LEAVE_OUT = {name.strip() for name in os.environ.get("CORPUS_LEAVE_OUT", "").split(",")}
INSTALLED_APPS = [
    app
    for app in [
        *DJANGO_CONTRIB,
        *(POSTGRESQL_ONLY if POSTGRESQL else []),
        *WAGTAIL,
        *OSCAR,
        *CMS,
        *OTHERS,
        "migration_studio",
        "corpus_tools",
    ]
    if app not in LEAVE_OUT
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sekizai.context_processors.sekizai",
                "cms.context_processors.cms_settings",
            ],
        },
    },
]

# Third-party apps' own settings, the minimum each needs to load.
WAGTAIL_SITE_NAME = "corpus"
WAGTAILADMIN_BASE_URL = "http://localhost"
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
CMS_CONFIRM_VERSION4 = True
CMS_TEMPLATES = [("base.html", "Base")]
LANGUAGES = [("en", "English")]
LANGUAGE_CODE = "en"
CONSTANCE_BACKEND = "constance.backends.database.DatabaseBackend"
CONSTANCE_CONFIG = {"CORPUS": (1, "an example value")}
# The corpus runs migration commands only; these checks concern serving requests.
SILENCED_SYSTEM_CHECKS = ["sites.E101"]

# The crosscheck (run.py --crosscheck): the database that `migrate` works on, beside the default.
if os.environ.get("CORPUS_CROSSCHECK_URL"):
    DATABASES["crosscheck"] = database_from_url(os.environ["CORPUS_CROSSCHECK_URL"])
