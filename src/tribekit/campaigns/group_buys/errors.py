"""The refusals of group buys, each with its stable code."""

from __future__ import annotations

from tribekit.kit.errors import Conflict


class GroupBuyNotOpen(Conflict):
    code = "group_buy_not_open"
    title = "The group buy is not open for joining"


class TeamFull(Conflict):
    code = "team_full"
    title = "The team has no seat left"


class TeamClosed(Conflict):
    code = "team_closed"
    title = "The team is closed"


class LimitReached(Conflict):
    code = "group_buy_limit_reached"
    title = "The member holds as many portions as the group buy allows"


class AlreadyInTeam(Conflict):
    code = "already_in_team"
    title = "The member is in a team of this group buy already"


class LeaveWouldRaisePrice(Conflict):
    code = "leave_would_raise_price"
    title = "Leaving would make the team dearer than others paid"


class GroupBuyClosed(Conflict):
    code = "group_buy_closed"
    title = "The group buy is closed or cancelled already"
