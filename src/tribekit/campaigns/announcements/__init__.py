"""What the robot posts about a campaign, in every target group, each moment once.

Moments: ``before`` (``announce_before_seconds`` ahead of the start), ``start`` (the flash sale
is live, the group buy open; with a buy or join button to the member page, ``/m/flash/<id>``
or ``/m/group-buys/<id>``), ``sold_out`` (a flash sale that sold out) and ``result`` (a group
buy closed: the tier each team reached, or that it fell short and was refunded).

The sweep finds the moments due from the campaign rows themselves (their status and times), so
flash sales and group buys never call this module. Each moment becomes one broadcast
(``robot.broadcasts``, naming the campaign in ``campaign_id``) to the campaign's communities or
every active one, and is recorded in the row's ``announced``: the row is locked first (rank
CAMPAIGN of ``kit.locks``) and ``announced`` read again under the lock, so a moment is never
posted twice, whatever the number of workers. Announcements are marketing: a group that does
not accept marketing is skipped, and a group past its channel's monthly quota too, exactly as
for every broadcast.

Texts: the campaign's ``announcements`` (``{"start": {"en": "...", "zh-CN": "..."}}``, copied
from its schedule, or given when it was made) or, for a moment without any, the defaults below
in en and zh-CN (the ``campaigns`` catalog, ``locale/<locale>/LC_MESSAGES/campaigns.po``). Each
group reads its language, else the first given. Texts may name values in braces (``{price}``,
``{starts}``: ``FIELDS``); a name not known is left as written.

A promotion day has no status to watch: its announcements (``before``, ``start``, when its
schedule gives texts) are written as broadcasts due at their times when the day is made
(``promotion_broadcasts``), in that same transaction, so once as well.
"""

from .content import Campaign, content, member_page
from .posting import (
    BEFORE_MAX,
    LATE_LIMIT,
    SWEEP,
    announce,
    announce_due,
    due,
    is_due,
    promotion_broadcasts,
    sweeps,
)
from .texts import (
    FIELDS,
    MOMENTS,
    TEXTS,
    AnnouncementsInvalid,
    check_texts,
    default_text,
    fill,
    translations,
)

__all__ = [
    "BEFORE_MAX",
    "FIELDS",
    "LATE_LIMIT",
    "MOMENTS",
    "SWEEP",
    "TEXTS",
    "AnnouncementsInvalid",
    "Campaign",
    "announce",
    "announce_due",
    "check_texts",
    "content",
    "default_text",
    "due",
    "fill",
    "is_due",
    "member_page",
    "promotion_broadcasts",
    "sweeps",
    "translations",
]
