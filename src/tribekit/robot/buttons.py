"""Buttons pressed under the robot's messages, each kind by what its data says:

* the join captcha's (``captcha.button_data``), pressed by the member it asks, solves it: the
  prompt is removed and the press answered; anyone else's press does nothing;
* a group buy announcement's join button (``campaigns.join_button``) joins the member, like a
  "+1" reply: the press is answered at once and the member's link posted in the group.
"""

from __future__ import annotations

from tribekit.models.enums import ActionKind
from tribekit.models.robot import RobotAccount, RobotEvent

from . import actions, campaigns, captcha
from .channels import OutboundAction
from .commands import CommandContext
from .texts import say


async def pressed(ctx: CommandContext, account: RobotAccount, recorded: RobotEvent) -> str:
    """What the press did (the event's outcome)."""
    group_buy_id = campaigns.joined_by_button(ctx.event.button_data)
    if group_buy_id is not None:
        text = await campaigns.join_from_chat(ctx, group_buy_id)
        await _answer(
            ctx, account, f"gb-answer:{recorded.id}", say("group_buy.pressed", ctx.language)
        )
        name = ctx.event.person.display_name if ctx.event.person else ""
        posted = OutboundAction(
            ActionKind.SEND,
            actions.chat_of(ctx.community),
            text=f"{name}: {text}" if name else text,
        )
        await actions.owe_in_group(
            ctx.session, ctx.tenant, account, ctx.community, f"gb-join:{recorded.id}", posted
        )
        return "group buy: button"
    return await _captcha(ctx, account, recorded)


async def _answer(ctx: CommandContext, account: RobotAccount, decision: str, text: str) -> None:
    """The press answered (a short notice the platform shows the presser), where it can be."""
    if ctx.event.button_query_id:
        answer = OutboundAction(
            ActionKind.ANSWER_BUTTON,
            actions.chat_of(ctx.community),
            text=text,
            button_query_id=ctx.event.button_query_id,
        )
        await actions.owe_in_group(
            ctx.session, ctx.tenant, account, ctx.community, decision, answer
        )


async def _captcha(ctx: CommandContext, account: RobotAccount, recorded: RobotEvent) -> str:
    data, member_id, community = ctx.event.button_data, ctx.member_id, ctx.community
    if not captcha.is_button(data):
        return "ignored"
    if data != captcha.button_data(member_id):
        return "captcha: not theirs"
    if not await captcha.solve(ctx.session, community.id, member_id):
        return "captcha: not pending"
    solved = say("captcha.solved", community.language)
    await _answer(ctx, account, f"captcha-answer:{recorded.id}", solved)
    if ctx.event.message_id:
        prompt = OutboundAction(
            ActionKind.DELETE, actions.chat_of(community), message_id=ctx.event.message_id
        )
        await actions.owe_in_group(
            ctx.session, ctx.tenant, account, community, f"captcha-prompt:{recorded.id}", prompt
        )
    return "captcha solved"
