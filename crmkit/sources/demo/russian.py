"""The demo company in Russian (``crmkit demo --locale ru``): the same company, the same
numbers and stories, with the names and texts a Russian company's CRM would hold.

The English demo is drawn first, from the same random streams, and only its texts are
replaced here (so its numbers, and the English demo's fingerprint, do not change): people
get Russian first names and surnames (the surname agreeing with the first name), customers
Russian company names, and teams, campaigns, products, regions and survey comments their
Russian words. Each replacement is a pure function of the English text (a CRC-32 picks from
the lists), so the same English demo gives the same Russian one. Identifier-like values
(channels, stages, statuses) stay identifiers: the pages name them in the reader's language.
"""

from __future__ import annotations

import zlib

import pandas as pd

__all__ = ["CURRENCY", "SETTINGS", "TEAM_NAMES", "russian_frames"]

#: The settings of the Russian demo company.
SETTINGS = {"timezone": "Europe/Moscow", "currency": "RUB", "locale": "ru"}
CURRENCY = "RUB"

TEAM_NAMES = {"Enterprise": "Крупный бизнес", "Mid-Market": "Средний бизнес",
              "SMB": "Малый бизнес", "Partners": "Партнёры"}

_MALE = ("Александр", "Алексей", "Андрей", "Борис", "Вадим", "Виктор", "Владимир", "Дмитрий",
         "Евгений", "Игорь", "Илья", "Кирилл", "Максим", "Михаил", "Никита", "Олег", "Павел",
         "Роман", "Сергей", "Степан", "Тимур", "Фёдор", "Юрий", "Ярослав")
_FEMALE = ("Алина", "Анна", "Валерия", "Вера", "Дарья", "Екатерина", "Елена", "Ирина",
           "Ксения", "Лариса", "Марина", "Мария", "Наталья", "Ольга", "Полина", "Светлана",
           "София", "Татьяна", "Юлия", "Яна")
_SURNAMES = ("Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов",
             "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев",
             "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов", "Николаев", "Орлов",
             "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов",
             "Яковлев", "Григорьев", "Романов", "Воробьёв", "Сергеев", "Кузьмин", "Фролов",
             "Александров", "Дмитриев", "Королёв", "Гусев", "Киселёв", "Ильин", "Максимов",
             "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов", "Медведев", "Антонов",
             "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров", "Давыдов", "Беляев")
_FORMS = ("ООО", "АО", "ПАО", "ООО", "ИП", "ООО", "АО", "ГК")
_FIRST_WORDS = ("Северный", "Альпийский", "Синий", "Светлый", "Кедровый", "Ясный", "Дельта",
                "Восточный", "Честный", "Зелёный", "Гаванский", "Железный", "Люмен", "Кленовый",
                "Меридиан", "Полярный", "Дубовый", "Пионер", "Квант", "Речной", "Серебряный",
                "Вершина", "Городской", "Вектор", "Западный", "Зенит", "Атлант", "Маяк",
                "Корона", "Сокол")
_SECOND_WORDS = ("Логистика", "Продукты", "Системы", "Здоровье", "Ритейл", "Энергия",
                 "Лаборатории", "Медиа", "Инструменты", "Партнёры", "Мастерские", "Динамика",
                 "Аналитика", "Текстиль", "Моторс", "Фарма", "Финансы", "Отели", "Робототехника",
                 "Дизайн")

CAMPAIGN_NAMES = {
    "Always-on Search": "Постоянная поисковая реклама",
    "Monthly Newsletter": "Ежемесячная рассылка",
    "LinkedIn Thought Leadership": "Экспертные статьи в соцсетях",
    "Spring Trade Fair": "Весенняя выставка",
    "Partner Referral Program": "Партнёрская программа рекомендаций",
    "Product Webinars": "Вебинары о продукте",
    "Summer Promo Mailing": "Летняя промо-рассылка",
    "Programmatic Display Push": "Программатик-баннеры",
    "Industry Summit": "Отраслевой саммит",
    "Instagram Stories": "Истории в соцсетях",
    "Mid-Market Webinar Series": "Вебинары для среднего бизнеса",
    "Brand Search": "Брендовый поиск",
    "Executive Roundtables": "Круглые столы для руководителей",
}
PRODUCT_NAMES = {"CRM Core": "CRM Базовая", "CRM Professional": "CRM Профессиональная",
                 "Analytics Add-on": "Модуль аналитики", "Support Plus": "Поддержка Плюс",
                 "Onboarding Services": "Услуги внедрения"}
REGION_NAMES = {"DACH": "Москва", "Nordics": "Северо-Запад", "UK & Ireland": "Санкт-Петербург",
                "Benelux": "Поволжье", "France": "Урал", "Iberia": "Юг", "Italy": "Сибирь",
                "CEE": "Дальний Восток"}
COMMENTS = {
    "Great product, the team really listens.": "Отличный продукт, команда правда слушает.",
    "Setup was quick and the reports save us hours every week.":
        "Быстро настроили, отчёты экономят нам часы каждую неделю.",
    "Support answered within minutes. Impressed!": "Поддержка ответила за минуты. Впечатлён!",
    "Exactly what we needed for our sales team.": "Именно то, что нужно нашему отделу продаж.",
    "Solid tool, fair price, friendly people.":
        "Надёжный инструмент, честная цена, приятные люди.",
    "The new dashboard is fantastic.": "Новая панель просто замечательная.",
    "Works fine, a few features are missing.": "Работает нормально, не хватает пары функций.",
    "Good overall, but the mobile app is slow.":
        "В целом хорошо, но мобильное приложение тормозит.",
    "OK for now, we are still evaluating.": "Пока нормально, мы ещё присматриваемся.",
    "Decent, the import could be easier.": "Неплохо, но импорт мог бы быть проще.",
    "Does the job.": "Со своей задачей справляется.",
    "Too expensive for what it does.": "Слишком дорого для того, что он умеет.",
    "The sync with our mail server keeps failing.":
        "Синхронизация с нашим почтовым сервером постоянно сбоит.",
    "Support took days to reply.": "Поддержка отвечала несколько дней.",
    "Hard to use, our reps went back to spreadsheets.":
        "Сложно в работе, менеджеры вернулись к таблицам.",
    "Billing was wrong twice this quarter.": "Счета в этом квартале дважды были с ошибкой.",
    "Missing the integrations we were promised.": "Нет интеграций, которые нам обещали.",
}


def _pick(words: tuple[str, ...], text: str, salt: str = "") -> str:
    return words[zlib.crc32(f"{salt}{text}".encode()) % len(words)]


def person(name: str) -> str:
    """A Russian name for an English one: first name and surname, the surname agreeing."""
    female = zlib.crc32(name.encode()) % 2 == 1
    first = _pick(_FEMALE if female else _MALE, name, "first")
    last = _pick(_SURNAMES, name, "last")
    return f"{first} {last}{'а' if female else ''}"


def company(name: str) -> str:
    """A Russian company name for an English one: ``ООО «Северный Логистика»``."""
    return (f"{_pick(_FORMS, name, 'form')} «{_pick(_FIRST_WORDS, name, 'a')} "
            f"{_pick(_SECOND_WORDS, name, 'b')}»")


def _mapped(values: pd.Series, names: dict[str, str], unit_word: str = "") -> pd.Series:
    """Values through ``names``; a scaled demo's ``" (unit 3)"`` suffix said in Russian."""
    def one(value: object) -> object:
        if not isinstance(value, str):
            return value
        base, sep, unit = value.partition(" (unit ")
        shown = names.get(base, base)
        return f"{shown} ({unit_word} {unit}" if sep and unit_word else shown
    return values.map(one)


def russian_frames(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables of one business unit with Russian names and texts (new frames; the
    given ones are not changed)."""
    out = dict(frames)
    renames = {
        ("employees", "name"): lambda s: s.map(lambda v: person(v) if isinstance(v, str) else v),
        ("customers", "name"): lambda s: s.map(lambda v: company(v) if isinstance(v, str) else v),
        ("customers", "region"): lambda s: _mapped(s, REGION_NAMES),
        ("campaigns", "name"): lambda s: _mapped(s, CAMPAIGN_NAMES, "подразделение"),
        ("deals", "product"): lambda s: _mapped(s, PRODUCT_NAMES),
        ("survey_responses", "comment"): lambda s: _mapped(s, COMMENTS),
    }
    for (table, column), rename in renames.items():
        if table in out and column in out[table].columns:
            out[table] = out[table].assign(**{column: rename(out[table][column])})
    return out
