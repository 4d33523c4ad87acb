"""The message catalogues (``<lang>/LC_MESSAGES/crmkit.po``) and their template
``crmkit.pot``, collected by :mod:`crmkit.locale.extract` (``make messages``) and read by
:mod:`crmkit.i18n`. Adding a language: docs/i18n.md."""
