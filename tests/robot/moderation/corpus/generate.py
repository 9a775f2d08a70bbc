"""Writes the labelled moderation corpus: spam.jsonl and ham.jsonl next to this file.

``python tests/robot/moderation/corpus/generate.py`` (seeded: the same files every run; the
files are committed, this script is how they were made). Each line is a JSON object with
``text``, ``label`` (spam / ham), ``language`` (en / zh) and ``kind``.

Spam is what shop groups receive: investment, crypto, loan, gambling, adult and task-job ads,
invitations to other groups, contact handles, phone numbers, shortened and unknown links, and
the evasions spammers use (full-width letters, zero-width characters, letters spaced out,
Cyrillic look-alikes, dots and emoji between Chinese characters). Ordinary messages are shop
chat, including the hard cases: prices, order and tracking numbers, dates, times, addresses
with street and room numbers, postcodes, the shop's own links and its own Telegram channel.
"""

# ruff: noqa: E501, RUF001  # message templates, one a line, in full-width punctuation
from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
PER_LANGUAGE = 300
SHOP = ["greenwoodfruit.com", "shop.greenwoodfruit.com", "www.greenwoodfruit.com"]
rng = random.Random(20261202)


def pick(items: list[str]) -> str:
    return rng.choice(items)


def code(n: int = 6, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def order_no() -> str:
    up = string.ascii_uppercase + string.digits
    return f"2612{rng.randint(1, 28):02d}-{code(5, up)}-{code(5, up)}"


def price() -> str:
    return pick([f"{rng.randint(5, 300)}.{pick(['00', '50', '80', '90', '99'])}",
                 f"{rng.randint(1, 9)},{rng.randint(100, 999)}.00", str(rng.randint(8, 500))])  # fmt: skip


def clock() -> str:
    return f"{rng.randint(7, 22)}:{pick(['00', '15', '30', '45'])}"


def date_en() -> str:
    return pick([f"2026-12-{rng.randint(1, 31):02d}", f"12/{rng.randint(1, 31):02d}",
                 f"Dec {rng.randint(1, 31)}", f"{rng.randint(1, 31)} December",
                 pick(["Saturday", "Sunday", "Friday", "tomorrow", "next Monday"])])  # fmt: skip


def date_zh() -> str:
    return pick([f"12月{rng.randint(1, 31)}日", f"2026-12-{rng.randint(1, 31):02d}",
                 pick(["周六", "周日", "明天", "后天", "下周一", "今晚"])])  # fmt: skip


def cn_mobile() -> str:
    digits = pick(["13", "15", "17", "18", "19", "16"]) + "".join(
        rng.choice(string.digits) for _ in range(9)
    )
    style = rng.randint(0, 4)
    if style == 0:
        return digits
    if style == 1:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    if style == 2:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style == 3:
        return " ".join(digits)
    return "+86 " + digits


def intl_phone() -> str:
    return pick(["+1 202 456 1414", "+44 20 7946 0958", "+852 9123 4567", "+65 9123 4567",
                 "+7 912 345 6789", "+63 917 123 4567", "+234 803 123 4567", "+91 98765 43210",
                 "+60 12-345 6789", "+1 (415) 867-5309", "+49 1512 3456789", "+84 91 234 56 78"])  # fmt: skip


def wx_id() -> str:
    return (
        pick(["lily", "mm", "vip", "kefu", "jj", "xiao", "money", "abc", "win", "lucky"])
        + pick(["", "_"])
        + str(rng.randint(10, 99999))
        + pick(["", "a", "x", "vip"])
    )


def qq_no() -> str:
    return str(rng.randint(10_000_000, 3_999_999_999))


def tg_handle() -> str:
    return (
        pick(["crypto", "trader", "invest", "signal", "profit", "winner", "btc", "forex"])
        + pick(["_", ""])
        + pick(["king", "queen", "pro", "master", "guru", "official"])
        + str(rng.randint(1, 999))
    )


EMOJI = ["🍎", "🍊", "🍓", "🥭", "🍉", "😊", "👍", "🙏", "❤️", "🎉", "😂", "👌", "🌟", "🔥", "💯"]
SPAM_EMOJI = ["🚀", "💰", "💎", "🔥", "📈", "✅", "🎁", "💵", "🤑", "⚡", "👉", "🎰", "💋"]
FRUIT_EN = ["mangoes", "apples", "Fuji apples", "pears", "oranges", "strawberries", "cherries",
            "durian", "lychees", "blueberries", "kiwis", "grapes", "pomelos", "dragon fruit"]  # fmt: skip
FRUIT_ZH = ["芒果", "苹果", "红富士", "梨", "橙子", "草莓", "车厘子", "榴莲", "荔枝", "蓝莓", "猕猴桃",
            "葡萄", "柚子", "火龙果", "砂糖橘"]  # fmt: skip
STREET_EN = ["Wuding Rd", "Nanjing West Road", "Maple Street", "Harbour Road", "Queen's Road",
             "Elm Avenue", "Jianguo Road", "Station Street"]  # fmt: skip
STREET_ZH = [
    "武定路",
    "南京西路",
    "建国路",
    "中山北路",
    "人民大道",
    "淮海中路",
    "长乐路",
    "滨江大道",
]


def address_en() -> str:
    return pick([
        f"{rng.randint(1, 2999)} {pick(STREET_EN)}, Apt {rng.randint(101, 2505)}",
        f"No. {rng.randint(1, 1500)} {pick(STREET_EN)}, building {rng.randint(1, 12)}",
        f"Block {rng.randint(1, 30)}, {rng.randint(1, 40)}/F, Flat {pick(list('ABCDEFGH'))}",
        f"{rng.randint(1, 300)} {pick(STREET_EN)}, postcode {rng.randint(100000, 299999)}",
    ])  # fmt: skip


def address_zh() -> str:
    return pick([
        f"{pick(STREET_ZH)}{rng.randint(1, 1500)}号{rng.randint(1, 30)}号楼{rng.randint(101, 2505)}室",
        f"{pick(STREET_ZH)}{rng.randint(1, 999)}弄{rng.randint(1, 60)}号",
        f"{pick(STREET_ZH)}{rng.randint(1, 1500)}号，邮编{rng.randint(200000, 299999)}",
    ])  # fmt: skip


def shop_link() -> str:
    path = pick(["", f"/g/{code(6)}", f"/p/{rng.randint(100, 9999)}", "/me", "/catalog",
                 f"/sale/{code(4).lower()}", f"/o/{order_no()}"])  # fmt: skip
    return pick(["https://", "", "http://"]) + pick(SHOP) + path


def ham_en() -> tuple[str, str]:
    templates: list[tuple[str, Callable[[], str]]] = [
        ("order", lambda: f"Is the {pick(FRUIT_EN)} still available? I'd like {rng.randint(1, 6)} boxes"),
        ("order", lambda: f"Order {order_no()} paid, {price()} total. Pickup at {clock()} please"),
        ("order", lambda: f"My order number is {order_no()}, it says {rng.randint(1, 4)} boxes but I ordered {rng.randint(5, 8)}"),
        ("order", lambda: f"Ordered on {date_en()} at {clock()}, still waiting. Order {order_no()}"),
        ("price", lambda: f"Price per box is {price()}, two boxes {price()}? {pick(EMOJI)}"),
        ("price", lambda: f"Total came to {price()} after the coupon, great deal {pick(EMOJI)}"),
        ("price", lambda: f"{rng.randint(2, 5)} kg of {pick(FRUIT_EN)} and {rng.randint(1, 3)} of pears: {price()} + {price()}"),
        ("price", lambda: f"Weighed {rng.randint(1, 9)}.{rng.randint(1, 9)} kg, paid {price()} at the counter"),
        ("pickup", lambda: f"What time does the pickup start on {date_en()}? Is {clock()} ok?"),
        ("pickup", lambda: f"Anyone going to the pickup at {clock()}? I can take yours too {pick(EMOJI)}"),
        ("pickup", lambda: f"Between {clock()} and {clock()} works for me"),
        ("pickup", lambda: f"{date_en()} pickup moved to {date_en()} because of the rain?"),
        ("address", lambda: f"Can I change my delivery to {address_en()}?"),
        ("address", lambda: f"{address_en()} — leave it with the guard please"),
        ("address", lambda: f"Is postcode {rng.randint(100000, 299999)} inside the delivery area?"),
        ("link", lambda: f"Here is the link to the {pick(FRUIT_EN)} group buy: {shop_link()}"),
        ("link", lambda: f"The new list is on {shop_link()}, prices from {price()}"),
        ("link", lambda: f"I can't open {shop_link()}, it asks me to sign in again"),
        ("link", lambda: f"Follow the shop channel t.me/greenwood_fruit for the weekly list {pick(EMOJI)}"),
        ("chat", lambda: f"The {pick(FRUIT_EN)} from last week were so sweet! {pick(EMOJI)}{pick(EMOJI)}"),
        ("chat", lambda: f"Thanks @{pick(['Amy', 'leader_jo', 'Ken', 'lin_wei'])} for packing the order so nicely"),
        ("chat", lambda: f"Is it ok to pay by WeChat Pay at pickup? {pick(['', 'Or cash?', 'Or card?'])}"),
        ("chat", lambda: f"My tracking number is SF{rng.randint(10**12, 10**13 - 1)}, any news?"),
        ("chat", lambda: f"Check-in streak {rng.randint(2, 60)} days, {rng.randint(10, 900)} points now {pick(EMOJI)}"),
        ("chat", lambda: f"Code GREEN{rng.randint(5, 30)} worked, thanks!"),
        ("event", lambda: f"Tasting event on {date_en()} at {clock()} at {address_en()}, {rng.randint(3, 40)} seats left"),
        ("event", lambda: f"Calligraphy class {date_en()} from {clock()} to {clock()}, room {rng.randint(101, 520)}"),
        ("event", lambda: f"I'll bring {rng.randint(1, 5)} kids, ages {rng.randint(5, 8)}-{rng.randint(9, 12)}, for the {clock()} class"),
        ("event", lambda: f"Group buy reached {rng.randint(10, 29)} of 30, {rng.randint(1, 9)} more to go! {pick(EMOJI)}"),
        ("event", lambda: f"Reminder: the flash sale starts {clock()} tonight, limit {rng.randint(1, 3)} per member"),
        ("chat", lambda: f"My member number is {rng.randint(10**7, 10**8 - 1)}, the card shows the old level"),
        ("chat", lambda: f"{pick(['Morning all', 'Hi everyone', 'Good evening'])}! {pick(FRUIT_EN).capitalize()} look great today {pick(EMOJI)}"),
        ("chat", lambda: f"Invoice total {price()} for table {rng.randint(1, 30)}, can you send a receipt?"),
        ("chat", lambda: f"Version {rng.randint(1, 4)}.{rng.randint(0, 9)} of the app shows my points, nice"),
        ("chat", lambda: f"Called the courier at {clock()}, he said {rng.randint(10, 50)} minutes"),
        ("chat", lambda: f"I work from home so I can pick up any time before {clock()}"),
        ("chat", lambda: f"Do you have the {pick(FRUIT_EN)} in {rng.randint(2, 10)} kg boxes? Last time it was {price()}"),
        ("chat", lambda: f"Lol my kid ate half the box already 😂 {pick(FRUIT_EN)} are addictive"),
        ("chat", lambda: f"+1 from building {rng.randint(1, 12)}, {rng.randint(1, 5)} boxes please"),
        ("chat", lambda: f"Paid via WeChat, {price()}. My WeChat name is {pick(['Lily', 'Ken W', 'Jo'])}"),
        ("chat", lambda: f"Bank transfer ref {rng.randint(10**13, 10**14 - 1)}, {price()} sent"),
        ("chat", lambda: f"Send the invoice to {pick(['lily.wang', 'ken88', 'jo_chen'])}@{pick(['qq.com', 'gmail.com', '163.com'])} please"),
        ("chat", lambda: f"{pick(['Nice.Me too', 'Great.See you', 'Ok.So'])} at {clock()} {pick(EMOJI)}"),
        ("price", lambda: f"{rng.randint(1, 3)} x 5kg {pick(FRUIT_EN)}, {rng.randint(1, 3)} x 3kg apples = {price()}"),
        ("price", lambda: f"Prices this week: {price()}, {price()}, {price()} and {price()}"),
        ("pickup", lambda: f"Pickup code {rng.randint(1000, 9999)}, locker {rng.randint(1, 60)}, open till {clock()}"),
    ]  # fmt: skip
    kind, make = pick_pair(templates)
    return kind, make()


def ham_zh() -> tuple[str, str]:
    templates: list[tuple[str, Callable[[], str]]] = [
        ("order", lambda: f"{pick(FRUIT_ZH)}还有吗？我要{rng.randint(1, 6)}箱"),
        ("order", lambda: f"订单{order_no()}已付款，合计{price()}元，{clock()}来取"),
        ("order", lambda: f"订单号：{order_no()}，少了一盒{pick(FRUIT_ZH)}"),
        ("order", lambda: f"{date_zh()}下的单，订单{order_no()}，还没发货"),
        ("price", lambda: f"单价{price()}，两箱{price()}吗？{pick(EMOJI)}"),
        ("price", lambda: f"{pick(FRUIT_ZH)}{rng.randint(2, 10)}斤装，{price()}元，划算 {pick(EMOJI)}"),
        ("price", lambda: f"用了优惠券一共{price()}元，比上周便宜{rng.randint(2, 30)}块"),
        ("price", lambda: f"称了{rng.randint(1, 9)}.{rng.randint(1, 9)}公斤，付了{price()}"),
        ("pickup", lambda: f"{date_zh()}几点开始自提？{clock()}可以吗"),
        ("pickup", lambda: f"{clock()}到{clock()}都在家，送过来就行"),
        ("pickup", lambda: f"有人{clock()}去自提点吗？帮我带一份 {pick(EMOJI)}"),
        ("pickup", lambda: f"{date_zh()}下午{rng.randint(1, 6)}点到，麻烦等一下"),
        ("address", lambda: f"地址改成{address_zh()}，谢谢"),
        ("address", lambda: f"{address_zh()}，放门卫就行"),
        ("address", lambda: f"邮编{rng.randint(200000, 299999)}在配送范围内吗？"),
        ("link", lambda: f"团购链接：{shop_link()} 大家快来"),
        ("link", lambda: f"商城 {shop_link()} 上能看到{pick(FRUIT_ZH)}的价格"),
        ("link", lambda: "店铺频道 t.me/greenwood_fruit 每周更新，记得关注"),
        ("link", lambda: f"{shop_link()} 打不开，是不是要重新登录"),
        ("chat", lambda: f"今天的{pick(FRUIT_ZH)}好甜 {pick(EMOJI)}{pick(EMOJI)}"),
        ("chat", lambda: f"@{pick(['小林', '团长阿梅', 'Ken', '王姐'])} 你的货到了"),
        ("chat", lambda: f"用微信支付可以吗？{pick(['还是现金', '', '支付宝也行'])}"),
        ("chat", lambda: f"快递单号SF{rng.randint(10**12, 10**13 - 1)}，帮忙查一下"),
        ("chat", lambda: f"签到第{rng.randint(2, 60)}天，积分{rng.randint(10, 900)}了 {pick(EMOJI)}"),
        ("chat", lambda: f"会员卡号{rng.randint(10**7, 10**8 - 1)}，等级还是旧的"),
        ("chat", lambda: f"我家{rng.randint(1, 30)}号楼{rng.randint(101, 2505)}，门牌不好找"),
        ("chat", lambda: f"v{rng.randint(1, 4)}.{rng.randint(0, 9)}版本的小程序好用多了"),
        ("chat", lambda: f"我在家办公，{clock()}之前都能取 {pick(EMOJI)}"),
        ("chat", lambda: f"哈哈孩子一下吃了半箱{pick(FRUIT_ZH)} 😂"),
        ("chat", lambda: f"{pick(['大家早', '晚上好', '早上好'])}！今天的{pick(FRUIT_ZH)}看着不错"),
        ("event", lambda: f"{date_zh()}{clock()}品鉴会，在{address_zh()}，还剩{rng.randint(3, 40)}个位置"),
        ("event", lambda: f"书法课{date_zh()}{clock()}开始，{rng.randint(101, 520)}教室"),
        ("event", lambda: f"拼团还差{rng.randint(1, 9)}人，已经{rng.randint(10, 29)}人了 {pick(EMOJI)}"),
        ("event", lambda: f"今晚{clock()}开抢，每人限购{rng.randint(1, 3)}份"),
        ("event", lambda: f"我带{rng.randint(1, 4)}个孩子，{rng.randint(5, 8)}到{rng.randint(9, 12)}岁，上{clock()}的课"),
        ("chat", lambda: f"上次的{pick(FRUIT_ZH)}{price()}一箱，这次还是这个价吗"),
        ("chat", lambda: f"发票抬头写公司名，总额{price()}，可以开发票吗"),
        ("chat", lambda: f"第{rng.randint(2, 9)}期团购什么时候开始？上次的{pick(FRUIT_ZH)}很好"),
        ("order", lambda: f"#接龙 {pick(FRUIT_ZH)}\n1. 小林 {rng.randint(1, 5)}箱\n2. 王姐 {rng.randint(1, 5)}箱\n3. Ken {rng.randint(1, 5)}箱"),
        ("order", lambda: f"加1，{rng.randint(1, 5)}号楼{rng.randint(101, 2505)}，要{rng.randint(1, 4)}份"),
        ("chat", lambda: f"怎么加微信群？我{pick(['朋友', '邻居', '同事'])}也想买"),
        ("chat", lambda: f"我的微信昵称是{pick(['小林', '阿梅', 'Ken'])}，已经付了{price()}"),
        ("chat", lambda: f"发票发到{pick(['lily.wang', 'ken88', 'chen_jo'])}@{pick(['qq.com', '163.com'])}，谢谢"),
        ("chat", lambda: f"转账流水号{rng.randint(10**13, 10**14 - 1)}，{price()}元已转"),
        ("pickup", lambda: f"取件码{rng.randint(1000, 9999)}，{rng.randint(1, 60)}号柜，{clock()}前有效"),
        ("price", lambda: f"这周价格：{price()}、{price()}、{price()}，比上周便宜"),
    ]  # fmt: skip
    kind, make = pick_pair(templates)
    return kind, make()


def pick_pair(templates: list[tuple[str, Callable[[], str]]]) -> tuple[str, Callable[[], str]]:
    return templates[rng.randrange(len(templates))]


# -- spam ----------------------------------------------------------------------------------

SHORTENERS = [
    "bit.ly",
    "tinyurl.com",
    "cutt.ly",
    "rb.gy",
    "is.gd",
    "t.cn",
    "goo.gl",
    "shorturl.at",
    "ow.ly",
]
SPAM_DOMAINS = ["win-bonus.top", "luckyspin.vip", "cryptox-profit.xyz", "easyloan.cc",
                "hot-girls.club", "fastcash.site", "usdt-mine.io", "bet88.win", "earnbig.online",
                "mega-airdrop.app", "jobtask.shop", "signal-vip.net"]  # fmt: skip


def spam_link() -> str:
    if rng.random() < 0.5:
        return pick(["", "https://", "http://"]) + pick(SHORTENERS) + "/" + code(rng.randint(5, 8))
    return (
        pick(["https://", "", "www.", "http://"])
        + pick(SPAM_DOMAINS)
        + pick(["", f"/reg?id={rng.randint(100, 99999)}", f"/{code(5)}", "/vip"])
    )


def invite_link() -> str:
    return pick([
        f"t.me/+{code(16)}", f"https://t.me/joinchat/{code(22)}", f"t.me/{tg_handle()}",
        f"https://telegram.me/{tg_handle()}", f"https://chat.whatsapp.com/{code(22)}",
        f"https://matrix.to/#/#{pick(['deals', 'signals', 'free'])}:{pick(SPAM_DOMAINS)}",
        f"https://discord.gg/{code(8)}", f"https://weixin.qq.com/g/{code(24)}",
        f"https://qm.qq.com/cgi-bin/qm/qr?k={code(20)}", f"wa.me/{rng.randint(10**10, 10**11)}",
    ])  # fmt: skip


def spam_en() -> tuple[str, str]:
    def e() -> str:
        return pick(SPAM_EMOJI)

    def pct() -> str:
        return str(rng.choice([20, 30, 50, 100, 200, 300, 500]))

    templates: list[tuple[str, Callable[[], str]]] = [
        ("crypto", lambda: f"{e()} Crypto signals with {pct()}% accuracy, join now {invite_link()}"),
        ("crypto", lambda: f"Guaranteed profit of {pct()}% in 24 hours {e()} DM @{tg_handle()}"),
        ("crypto", lambda: f"I made ${rng.randint(2, 90)},000 with this bitcoin investment platform, ask me how {e()}"),
        ("crypto", lambda: f"{e()}{e()} FREE AIRDROP is live! Claim your airdrop before it ends {spam_link()}"),
        ("crypto", lambda: f"Double your bitcoin in {rng.randint(2, 48)} hours. Minimum deposit {rng.randint(50, 500)} USDT"),
        ("crypto", lambda: f"Forex trading with daily profit {pct()}%. Passive income for everyone {e()}"),
        ("crypto", lambda: f"Connect your wallet to receive the bonus: {spam_link()}"),
        ("crypto", lambda: f"Lost money to scammers? Fund recovery in {rng.randint(2, 9)} days, contact me for more"),
        ("crypto", lambda: f"Next 100x gem launching tonight 🚀 pump group {invite_link()}"),
        ("loan", lambda: f"Instant loan up to ${rng.randint(1, 50)},000, no credit check, approval in {rng.randint(5, 30)} min"),
        ("loan", lambda: f"Need cash? Quick loans available, bad credit ok {e()} WhatsApp {intl_phone()}"),
        ("loan", lambda: "Payday loans for everyone, low interest loan offer, text me on whatsapp"),
        ("gambling", lambda: f"{e()} Online casino: {rng.randint(50, 300)} free spins + deposit bonus {spam_link()}"),
        ("gambling", lambda: f"Betting tips with sure odds, fixed matches every weekend {e()} {invite_link()}"),
        ("gambling", lambda: f"Play baccarat and roulette, withdraw daily {e()} {spam_link()}"),
        ("adult", lambda: f"Hot singles in your area {e()} {spam_link()}"),
        ("adult", lambda: "Lonely girls waiting for you tonight 💋 check my bio"),
        ("adult", lambda: f"Sexy girls escort service, {clock()} to late, call {intl_phone()}"),
        ("adult", lambda: f"My onlyfans is free this week {e()} link in bio"),
        ("job", lambda: f"Hiring now! Simple tasks, earn ${rng.randint(50, 500)} a day from your phone, no experience needed"),
        ("job", lambda: f"Part time job offer: like and earn ${rng.randint(3, 20)} per video {e()} {invite_link()}"),
        ("job", lambda: f"Make money online with easy tasks, be your own boss {e()} inbox me"),
        ("job", lambda: f"Side hustle: earn from home {rng.randint(200, 900)}/day, DM @{tg_handle()}"),
        ("invite", lambda: f"Join our group for more deals {invite_link()}"),
        ("invite", lambda: f"{pick(FRUIT_EN).capitalize()} cheaper here 👉 {invite_link()}"),
        ("invite", lambda: f"Free {pick(['giveaways', 'samples', 'coupons'])} every day, join: {invite_link()}"),
        ("handle", lambda: f"Add me on WeChat: {wx_id()} for wholesale prices"),
        ("handle", lambda: f"WeChat ID {wx_id()} — cheap {pick(FRUIT_EN)}, free delivery"),
        ("handle", lambda: f"vx: {wx_id()} {e()} best prices in town"),
        ("handle", lambda: f"Contact telegram @{tg_handle()} for the offer"),
        ("handle", lambda: f"DM @{tg_handle()} for details {e()}"),
        ("handle", lambda: f"QQ {qq_no()} for cheap game accounts"),
        ("phone", lambda: f"Cheap {pick(FRUIT_EN)} wholesale, call {cn_mobile()}"),
        ("phone", lambda: f"Call or text {intl_phone()} for a free quote {e()}"),
        ("phone", lambda: f"Moving service, any size, {intl_phone()} 24/7"),
        ("phone", lambda: f"Whatsapp {intl_phone()} for cheap flights"),
        ("shortlink", lambda: f"Look at this {e()} {pick(SHORTENERS)}/{code(7)}"),
        ("shortlink", lambda: f"Congratulations, you won a gift: https://{pick(SHORTENERS)}/{code(6)}"),
        ("shortlink", lambda: f"{pick(['Wow', 'OMG', 'Check this'])} {e()} {spam_link()}"),
        ("link", lambda: f"Best deals of the year at {spam_link()} {e()}"),
        ("link", lambda: f"Verify your account at {spam_link()} or it will be suspended"),
        ("scam", lambda: f"You have won a free iPhone {rng.randint(13, 16)}! Claim your prize now {e()}"),
        ("scam", lambda: f"Buy followers, cheap followers for Instagram, {rng.randint(1, 10)}k for ${rng.randint(5, 30)}"),
        ("scam", lambda: f"Replica watches and cheap Rolex, free shipping {e()}"),
        ("scam", lambda: f"Weight loss pills that work, {rng.randint(5, 20)} kg in a month {e()}"),
        ("subtle", lambda: f"Hi dear, I earned {rng.randint(2, 9)},000 this month with a side business, ask me how"),
        ("subtle", lambda: f"Anyone interested in a good opportunity? Message me privately {e()}"),
    ]  # fmt: skip
    kind, make = pick_pair(templates)
    return kind, make()


def spam_zh() -> tuple[str, str]:
    def e() -> str:
        return pick(SPAM_EMOJI)

    def money() -> str:
        return str(rng.choice([300, 500, 800, 1000, 2000, 5000]))

    templates: list[tuple[str, Callable[[], str]]] = [
        ("job", lambda: f"兼职刷单，日结工资，一单{rng.randint(5, 50)}元{e()}"),
        ("job", lambda: f"宝妈兼职，在家赚钱，每天{money()}+，加V：{wx_id()}"),
        ("job", lambda: f"手机兼职，点赞赚钱，当天日结 {e()} 详情私聊"),
        ("job", lambda: f"诚招兼职，学生兼职也可以，轻松月入过万 {e()}"),
        ("job", lambda: "躺着赚钱的项目，零投入无需经验，有意者私聊"),
        ("invest", lambda: f"带单老师免费带你，稳赚不赔，高回报 {e()}"),
        ("invest", lambda: f"内幕消息，牛股推荐，进股票群 {invite_link()}"),
        ("invest", lambda: f"数字货币合约交易，日入过千，零风险 {spam_link()}"),
        ("invest", lambda: f"比特币投资平台，回本快收益高，加微信{wx_id()}"),
        ("invest", lambda: f"{e()}空投活动开始，挖矿送USDT，点击链接 {spam_link()}"),
        ("loan", lambda: f"网贷秒批，无抵押贷款，黑户也能下款 {e()} 电话{cn_mobile()}"),
        ("loan", lambda: f"低息贷款，征信不好也能办，信用卡代还套现，联系{cn_mobile()}"),
        ("loan", lambda: f"代开各种发票，办证，联系QQ {qq_no()}"),
        ("gambling", lambda: f"{e()}澳门新葡京娱乐城，首充送{rng.randint(10, 100)}%彩金 {spam_link()}"),
        ("gambling", lambda: f"百家乐、时时彩、北京赛车，真人视讯 {e()} {spam_link()}"),
        ("gambling", lambda: f"棋牌游戏，下注就送，老虎机天天爆 {invite_link()}"),
        ("gambling", lambda: f"六合彩内部资料，彩票计划准确率{rng.randint(80, 99)}% 加扣{qq_no()}"),
        ("adult", lambda: f"同城约，一夜情 {e()} 看片加微信 {wx_id()}"),
        ("adult", lambda: f"小姐姐陪聊裸聊 {e()} {spam_link()}"),
        ("adult", lambda: f"成人视频福利视频免费看 {spam_link()}"),
        ("invite", lambda: f"进群领优惠券 {invite_link()}"),
        ("invite", lambda: f"更便宜的{pick(FRUIT_ZH)}团购群 {invite_link()}"),
        ("invite", lambda: f"拉你进群，每天红包 {e()} {invite_link()}"),
        ("invite", lambda: f"扫码进群，QQ群{qq_no()}"),
        ("handle", lambda: f"加V：{wx_id()} 批发价{pick(FRUIT_ZH)}"),
        ("handle", lambda: f"微信号 {wx_id()}，低价{pick(FRUIT_ZH)}包邮"),
        ("handle", lambda: f"需要的加薇信{wx_id()} {e()}"),
        ("handle", lambda: f"有需要的加扣扣{qq_no()}"),
        ("handle", lambda: f"vx {wx_id()} 代购正品，价格美丽"),
        ("handle", lambda: f"联系飞机 @{tg_handle()} 了解详情"),
        ("handle", lambda: f"➕v {wx_id()} 领取优惠"),
        ("phone", lambda: f"{pick(FRUIT_ZH)}产地直发，电话{cn_mobile()}"),
        ("phone", lambda: f"搬家公司，价格实惠，联系电话 {cn_mobile()}"),
        ("phone", lambda: f"需要的打 {cn_mobile()} {e()}"),
        ("phone", lambda: f"开锁换锁，24小时上门 {cn_mobile()}"),
        ("phone", lambda: f"400-{rng.randint(100, 999)}-{rng.randint(1000, 9999)} 装修报价免费"),
        ("shortlink", lambda: f"限时优惠 {e()} {pick(SHORTENERS)}/{code(6)}"),
        ("shortlink", lambda: f"恭喜中奖，点击领取 https://{pick(SHORTENERS)}/{code(7)}"),
        ("link", lambda: f"超低价商城 {spam_link()} {e()}"),
        ("link", lambda: f"你的账号异常，请登录 {spam_link()} 验证"),
        ("scam", lambda: f"出售微信号、实名卡，接码服务 {e()}"),
        ("scam", lambda: "跑分平台招人，引流涨粉代刷，微商必备"),
        ("scam", lambda: f"诚招代理，代理加盟零门槛 {e()}"),
        ("subtle", lambda: f"姐妹们，我这个月副业赚了{rng.randint(2, 9)}千，想了解的找我"),
        ("subtle", lambda: f"有个好项目，感兴趣的朋友聊聊 {e()}"),
    ]  # fmt: skip
    kind, make = pick_pair(templates)
    return kind, make()


# -- evasions ------------------------------------------------------------------------------

LOOKALIKE = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "y": "у", "i": "і"}


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def zero_width(text: str) -> str:
    marks = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
    return "".join(c + (pick(marks) if c.strip() and rng.random() < 0.35 else "") for c in text)


def lookalikes(text: str) -> str:
    return "".join(LOOKALIKE[c] if c in LOOKALIKE and rng.random() < 0.5 else c for c in text)


def spaced_words(text: str) -> str:
    # Spells out the longest word letter by letter ("c a s i n o") or puts dots between
    # Chinese characters ("刷.单").
    words = text.split(" ")
    longest = max(range(len(words)), key=lambda i: len(words[i]) if "/" not in words[i] else 0)
    sep = pick([" ", ".", "-", "*", " . "])
    words[longest] = sep.join(words[longest])
    return " ".join(words)


def emoji_between(text: str) -> str:
    return "".join(
        c + (pick(SPAM_EMOJI) if "\u4e00" <= c <= "\u9fff" and rng.random() < 0.3 else "")
        for c in text
    )


EVASIONS: dict[str, Callable[[str], str]] = {
    "full_width": full_width,
    "zero_width": zero_width,
    "lookalike": lookalikes,
    "spaced": spaced_words,
    "emoji": emoji_between,
}


def build(
    make: Callable[[], tuple[str, str]], label: str, language: str, evade: bool
) -> list[dict[str, str]]:
    seen: set[str] = set()
    rows: list[dict[str, str]] = []
    while len(rows) < PER_LANGUAGE:
        kind, text = make()
        if evade and rng.random() < 0.3:
            names = ["full_width", "zero_width", "spaced"]
            names += ["lookalike"] if language == "en" else ["emoji"]
            name = pick(names)
            text, kind = EVASIONS[name](text), f"{kind}+{name}"
        if text in seen:
            continue
        seen.add(text)
        rows.append({"text": text, "label": label, "language": language, "kind": kind})
    return rows


def main() -> None:
    spam = build(spam_en, "spam", "en", True) + build(spam_zh, "spam", "zh", True)
    ham = build(ham_en, "ham", "en", False) + build(ham_zh, "ham", "zh", False)
    for name, rows in (("spam.jsonl", spam), ("ham.jsonl", ham)):
        with (HERE / name).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
