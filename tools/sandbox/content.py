"""Words the sandbox store is made of: people, products and the text of support threads.

Kept apart from the generator in `data.py` so the rules that build tickets stay readable.
Placeholders in `{braces}` are filled with `str.format`; the hostile texts at the end are
never formatted, so their template syntax reaches the dashboard untouched.
"""

STORE_NAME = "Example Store"
SUPPORT_EMAIL = "support@example-store.test"
ATTACHMENT_HOST = "https://cdn.example-store.test/attachments"

# (first name, last name) of the support team: the assignees and reply authors.
AGENTS = [
    ("Maya", "Thompson"),
    ("Lucas", "Ferreira"),
    ("Aiko", "Tanaka"),
    ("Omar", "Haddad"),
    ("Sofia", "Rossi"),
    ("Jonas", "Berg"),
]

# Customers come from many places, so names arrive in many scripts. Each culture lists
# (name, latin spelling) pairs; the latin spelling builds the email address, as people do.
# `language` is the store's language code for them ("" where the store has no translation).
CULTURES = {
    "english": {
        "language": "en",
        "country": ("GB", "Manchester", "Deansgate"),
        "first": ["Emma", "Olivia", "James", "Liam", "Charlotte", "Noah", "Grace", "Henry"],
        "last": ["Smith", "Walker", "Hughes", "O'Brien", "Clarke", "Murphy", "Bennett", "Reid"],
        "domains": ["gmail.com", "outlook.com", "icloud.com", "btinternet.com"],
    },
    "spanish": {
        "language": "es",
        "country": ("ES", "Valencia", "Carrer de Colón"),
        "first": ["Lucía", "Mateo", "Sofía", "Diego", "Valentina", "Álvaro"],
        "last": ["García", "Fernández", "López", "Martínez", "Núñez", "Rodríguez"],
        "domains": ["gmail.com", "hotmail.es", "yahoo.es"],
    },
    "german": {
        "language": "de",
        "country": ("DE", "Köln", "Ehrenstraße"),
        "first": ["Lukas", "Hannah", "Jürgen", "Lena", "Maximilian", "Anna"],
        "last": ["Müller", "Schmidt", "Weiß", "Becker", "Schröder", "Hoffmann"],
        "domains": ["web.de", "gmx.de", "t-online.de"],
    },
    "french": {
        "language": "fr",
        "country": ("FR", "Lyon", "Rue de la République"),
        "first": ["Léa", "Hugo", "Chloé", "Théo", "Manon", "François"],
        "last": ["Dubois", "Lefèvre", "Moreau", "Girard", "Rousseau"],
        "domains": ["orange.fr", "free.fr", "hotmail.fr"],
    },
    "nordic": {
        "language": "sv",
        "country": ("SE", "Göteborg", "Kungsgatan"),
        "first": ["Elsa", "Oskar", "Astrid", "Björn", "Freja", "Sindre"],
        "last": ["Lindqvist", "Andersson", "Åberg", "Nyström", "Sørensen", "Løvås"],
        "domains": ["telia.com", "gmail.com", "proton.me"],
    },
    "italian": {
        "language": "it",
        "country": ("IT", "Bologna", "Via dell'Indipendenza"),
        "first": ["Giulia", "Marco", "Chiara", "Lorenzo"],
        "last": ["Rossi", "Bianchi", "Esposito", "Colombo"],
        "domains": ["libero.it", "gmail.com"],
    },
    "dutch": {
        "language": "nl",
        "country": ("NL", "Utrecht", "Oudegracht"),
        "first": ["Sanne", "Daan", "Femke", "Bram"],
        "last": ["de Vries", "van Dijk", "Jansen", "Bakker"],
        "domains": ["ziggo.nl", "kpnmail.nl", "gmail.com"],
    },
    "portuguese": {
        "language": "pt",
        "country": ("PT", "Porto", "Rua de Santa Catarina"),
        "first": ["João", "Beatriz", "Tiago", "Inês"],
        "last": ["Silva", "Gonçalves", "Carvalho", "Araújo"],
        "domains": ["sapo.pt", "gmail.com"],
    },
    "thai": {
        "language": "th",
        "country": ("TH", "Bangkok", "Sukhumvit Road"),
        "first": [("สมชาย", "Somchai"), ("นภา", "Napa"), ("อนันต์", "Anan")],
        "last": [("ใจดี", "Jaidee"), ("ศรีสุข", "Srisuk")],
        "domains": ["gmail.com", "hotmail.co.th"],
    },
    "japanese": {
        "language": "",
        "country": ("JP", "Osaka", "Midosuji"),
        "first": [("結衣", "Yui"), ("蓮", "Ren"), ("さくら", "Sakura"), ("翔太", "Shota")],
        "last": [("田中", "Tanaka"), ("佐藤", "Sato"), ("山本", "Yamamoto")],
        "domains": ["yahoo.co.jp", "docomo.ne.jp", "gmail.com"],
    },
    "chinese": {
        "language": "",
        "country": ("TW", "Taipei", "Zhongxiao East Road"),
        "first": [("伟", "Wei"), ("静", "Jing"), ("浩然", "Haoran"), ("美玲", "Meiling")],
        "last": [("王", "Wang"), ("李", "Li"), ("陈", "Chen"), ("张", "Zhang")],
        "domains": ["qq.com", "163.com", "gmail.com"],
    },
    "arabic": {
        "language": None,
        "country": ("AE", "Dubai", "Al Wasl Road"),
        "first": [("محمد", "Mohammed"), ("فاطمة", "Fatima"), ("عمر", "Omar"), ("ليلى", "Layla")],
        "last": [("الحسن", "Alhassan"), ("منصور", "Mansour"), ("حداد", "Haddad")],
        "domains": ["gmail.com", "outlook.com"],
    },
    "hebrew": {
        "language": None,
        "country": ("IL", "Haifa", "Herzl Street"),
        "first": [("יעל", "Yael"), ("נועם", "Noam"), ("תמר", "Tamar"), ("איתי", "Itai")],
        "last": [("כהן", "Cohen"), ("לוי", "Levi"), ("מזרחי", "Mizrahi")],
        "domains": ["gmail.com", "walla.co.il"],
    },
    "indian": {
        "language": "en",
        "country": ("IN", "Bengaluru", "MG Road"),
        "first": ["Priya", "Arjun", "Ananya", "Rohan"],
        "last": ["Sharma", "Iyer", "Reddy", "Nair"],
        "domains": ["gmail.com", "rediffmail.com"],
    },
    "nigerian": {
        "language": "en",
        "country": ("NG", "Lagos", "Admiralty Way"),
        "first": ["Chinedu", "Ngozi", "Oluwaseun", "Adaeze"],
        "last": ["Okafor", "Adeyemi", "Eze", "Balogun"],
        "domains": ["gmail.com", "yahoo.com"],
    },
    "polish": {
        "language": "",
        "country": ("PL", "Kraków", "ulica Floriańska"),
        "first": ["Zofia", "Paweł", "Agnieszka", "Łukasz"],
        "last": ["Nowak", "Wiśniewski", "Zielińska", "Wójcik"],
        "domains": ["wp.pl", "onet.pl", "gmail.com"],
    },
}

# Where most customers come from; the rest are spread thinly, as for a store shipping worldwide.
CULTURE_WEIGHTS = {
    "english": 22,
    "spanish": 7,
    "german": 7,
    "french": 6,
    "nordic": 5,
    "italian": 4,
    "dutch": 4,
    "portuguese": 3,
    "thai": 3,
    "japanese": 4,
    "chinese": 4,
    "arabic": 4,
    "hebrew": 3,
    "indian": 4,
    "nigerian": 3,
    "polish": 3,
}

# Senders who write in before they ever have an account, or from a different address.
UNKNOWN_SENDERS = [
    "buyer.k88@gmail.com",
    "orders@acme-wholesale.test",
    "j.doe.shopping@outlook.com",
    "no-reply+forward@mailbox.org",
    "giftgiver2024@yahoo.com",
    "purchasing@northwind-retail.test",
    "m.rahman@proton.me",
    "李小龙@例子.测试",
    "customer.care@partner-boutique.test",
    "anonymous.buyer@icloud.com",
]

PRODUCTS = [
    ("Daily Greens Powder 300g", "daily-greens-powder-300g", True),
    ("Collagen Peptides Unflavoured 450g", "collagen-peptides-unflavoured-450g", True),
    ("Bamboo Toothbrush 4-pack", "bamboo-toothbrush-4-pack", False),
    ("Merino Crew Socks (3 pairs)", "merino-crew-socks-3-pairs", False),
    ("Cold Brew Coffee Kit", "cold-brew-coffee-kit", False),
    ("Ceremonial Matcha 100g", "ceremonial-matcha-100g", True),
    ("Vitamin D3 + K2 Gummies", "vitamin-d3-k2-gummies", True),
    ("Ceramic Pour-Over Set", "ceramic-pour-over-set", False),
    ("Cork Yoga Mat Pro", "cork-yoga-mat-pro", False),
    ("Linen Pillowcase Set – Sage", "linen-pillowcase-set-sage", False),
    ("Insulated Bottle 750ml", "insulated-bottle-750ml", False),
    ("Probiotic 30 Capsules", "probiotic-30-capsules", True),
    ("Magnesium Sleep Blend", "magnesium-sleep-blend", True),
    ("Whey Protein Vanilla 1kg", "whey-protein-vanilla-1kg", True),
    ("Mulberry Silk Eye Mask", "mulberry-silk-eye-mask", False),
]

TICKET_TYPES = [
    "Refund request",
    "Shipping & delivery",
    "Product question",
    "Subscription",
    "Technical issue",
    "Chargeback",
]

# The tag catalogue, in id order. "influencer" is in the catalogue but on no seeded ticket,
# so a filter can legitimately come back empty.
TAGS = [
    "vip",
    "refund",
    "shipping-delay",
    "damaged",
    "subscription",
    "chargeback-risk",
    "wholesale",
    "first-order",
    "influencer",
]

# What customers open tickets with, per ticket type (None = no type set by the agent).
OPENERS = {
    "Shipping & delivery": [
        (
            "Where is my order #{order}?",
            "Hi,\n\nI ordered the {product} almost two weeks ago and it still hasn't arrived. "
            'The tracking page just says "label created". Can you check what\'s going on?\n\n'
            "Thanks,\n{first_name}",
        ),
        (
            "Tracking hasn't updated in {days} days",
            "Hello, my parcel for order {order} has been stuck in transit for {days} days now. "
            "Is it lost?",
        ),
        (
            "Package marked as delivered but not received",
            "Hi there,\n\n"
            "The courier says order {order} was delivered yesterday at 14:32, but nothing was "
            "left at my door, with the concierge or with any of my neighbours. I was home all "
            "afternoon and nobody rang the bell.\n\n"
            "I have already contacted the courier, who told me to contact you as the sender. "
            "This was a birthday present, so I'm quite upset about it.\n\n"
            "Could you please open an investigation, or send a replacement? I'm happy to sign "
            "a declaration if needed.\n\n"
            "Kind regards,\n{first_name}",
        ),
        (
            "Wrong delivery address on order {order}",
            "I just noticed my old address was used for order {order}. Can you still change "
            "it before it ships? The new one is on my account.",
        ),
        (
            "Box arrived damaged",
            "The {product} arrived with the box crushed and the lid cracked. Photos attached. "
            "What can you do?",
        ),
        (
            "Parcel held at customs",
            "My order {order} is held at customs and they ask me to pay import fees. Your site "
            "said duties were included?",
        ),
    ],
    "Refund request": [
        (
            "Refund for order {order}",
            "Hi, I'd like to return the {product} from order {order}. It's unopened. "
            "How do I get a refund?",
        ),
        (
            "Item arrived damaged – want a refund",
            "The {product} was leaking when I opened the parcel. I don't want a replacement, "
            "just my money back please.",
        ),
        (
            "Still waiting for my refund",
            "Hello,\n\n"
            "I sent the {product} back {days} days ago (tracking shows it was delivered to your "
            "warehouse) but I still haven't seen the refund on my card.\n\n"
            "Your returns page says refunds take 5–7 working days. It has now been much longer "
            "than that. Could you tell me when the money will be returned?\n\n"
            "Order number: {order}\n\n"
            "Thanks,\n{first_name}",
        ),
        (
            "Charged the wrong amount",
            "I was charged twice for order {order}. Please refund the duplicate payment.",
        ),
    ],
    "Product question": [
        (
            "Question about the {product}",
            "Hi! Is the {product} suitable for vegans? I can't find the full ingredient list.",
        ),
        (
            "Is the {product} back in stock soon?",
            "It's been sold out for weeks. Any idea when you'll restock? I'd buy three.",
        ),
        (
            "How do I use the {product}?",
            "Just got the {product} 😊 How much should I use per day, and can I take it with "
            "coffee?",
        ),
        (
            "Sizing / dimensions",
            "What are the exact dimensions of the {product}? I need it to fit in a 30 cm drawer.",
        ),
    ],
    "Subscription": [
        (
            "Cancel my subscription",
            "Please cancel my {product} subscription. I have too much at home.",
        ),
        (
            "Skip next month's delivery",
            "Hi, I'm travelling next month – can you skip my next {product} delivery? Thanks!",
        ),
        (
            "Charged for a subscription I cancelled",
            "I cancelled my subscription on the website last month but I was charged again "
            "today (order {order}). Please refund it and make sure it's really cancelled.",
        ),
        (
            "Change delivery frequency",
            "Can I change my {product} subscription from every 30 days to every 45 days?",
        ),
    ],
    "Technical issue": [
        (
            "Can't log in to my account",
            "The password reset email never arrives. I checked spam. Can you help?",
        ),
        (
            "Checkout error: payment declined",
            'Every time I try to pay I get "Something went wrong (code 4012)". My card works '
            "everywhere else.",
        ),
        (
            "Discount code not working",
            "The code WELCOME15 from your newsletter says it's invalid at checkout.",
        ),
        (
            "Website keeps logging me out",
            "On my phone (Safari, iOS 17) the site logs me out every time I add something to "
            "the cart. Very frustrating!",
        ),
    ],
    "Chargeback": [
        (
            "Dispute on order {order}",
            "Hello, we received a chargeback notification for order {order}. Opening this "
            "ticket to collect evidence.",
        ),
        (
            "I don't recognise this charge",
            "There's a charge from your store on my statement that I didn't make. I've "
            "contacted my bank.",
        ),
    ],
    None: [
        (
            "Do you ship to Canada?",
            "Hi, do you ship to Canada, and how long does it usually take?",
        ),
        (
            "Wholesale pricing",
            "Hello,\n\nWe run three health food shops and would like to stock your products. "
            "Do you offer wholesale pricing and what are the minimum order quantities?\n\n"
            "Best regards",
        ),
        (
            "Feedback",
            "Just wanted to say I love your products!! ❤️🔥 Keep it up.",
        ),
        (
            "Change my email address",
            "I'd like to change the email address on my account. How do I do that?",
        ),
    ],
}

# Some customers write in their own language; subjects and bodies in native script,
# with order numbers and product names left in latin digits and letters as people write them.
NATIVE_OPENERS = {
    "arabic": [
        (
            "Shipping & delivery",
            "لم يصل طلبي",
            "مرحباً،\nلم يصلني طلبي رقم {order} حتى الآن. هل يمكنكم التحقق من حالة الشحن؟\n"
            "المنتج: {product}\nشكراً جزيلاً",
        ),
        (
            "Refund request",
            "طلب استرداد المبلغ",
            "السلام عليكم، وصل المنتج {product} تالفاً. أريد استرداد المبلغ من فضلكم.",
        ),
    ],
    "hebrew": [
        (
            "Shipping & delivery",
            "ההזמנה לא הגיעה",
            "שלום,\nההזמנה שלי {order} עדיין לא הגיעה. אפשר לבדוק בבקשה?\nתודה רבה",
        ),
        (
            "Product question",
            "שאלה על המוצר",
            "היי, האם {product} מתאים לטבעונים? תודה!",
        ),
    ],
    "japanese": [
        (
            "Shipping & delivery",
            "商品がまだ届きません",
            "こんにちは。\n注文番号{order}の商品がまだ届いていません。配送状況を確認していただけますか？\n"
            "よろしくお願いします。",
        ),
        (
            "Refund request",
            "返品について",
            "{product}を返品したいのですが、手続きを教えてください。🙇",
        ),
    ],
    "chinese": [
        (
            "Shipping & delivery",
            "订单还没有收到",
            "你好，我的订单{order}还没有收到，请帮我查一下物流信息。谢谢！",
        ),
        (
            "Subscription",
            "关于订阅的问题",
            "您好，我想暂停{product}的订阅一个月，可以吗？",
        ),
    ],
    "thai": [
        (
            "Shipping & delivery",
            "ยังไม่ได้รับสินค้า",
            "สวัสดีครับ ยังไม่ได้รับสินค้าจากคำสั่งซื้อ {order} เลยครับ รบกวนช่วยตรวจสอบให้หน่อยครับ",
        ),
    ],
    "spanish": [
        (
            "Shipping & delivery",
            "Pedido {order} no recibido",
            "Hola,\n\nHace dos semanas que hice el pedido {order} y todavía no ha llegado. "
            "¿Podéis revisarlo?\n\nGracias,\n{first_name}",
        ),
    ],
    "german": [
        (
            "Refund request",
            "Rückerstattung für Bestellung {order}",
            "Guten Tag,\n\nich möchte den Artikel „{product}“ zurückgeben. Wie läuft die "
            "Rücksendung ab?\n\nMit freundlichen Grüßen\n{first_name}",
        ),
    ],
    "french": [
        (
            "Shipping & delivery",
            "Colis endommagé",
            "Bonjour,\n\nLe colis de ma commande {order} est arrivé abîmé, le « {product} » "
            "est cassé. Que puis-je faire ?\n\nCordialement,\n{first_name}",
        ),
    ],
}

# A conversation per ticket type: the agent either asks for something ("ask"), the customer
# answers ("answer"), or the agent sorts it out ("resolve"). Internal notes fit the type too.
CONVERSATIONS = {
    "Shipping & delivery": {
        "ask": [
            "Hi {first_name},\n\nCould you confirm the full delivery address, including flat "
            "number? Then I can arrange a replacement right away.",
            "Hi {first_name},\n\nSorry to hear that! Could you send a photo of the parcel and "
            "the shipping label, so I can file a claim with the courier?",
        ],
        "answer": [
            "It's flat 4B, second floor. The buzzer is broken so please ask them to call.",
            "Here are the photos you asked for.",
            "Sure, see attached. The label is a bit torn, sorry.",
        ],
        "resolve": [
            "Hi {first_name},\n\nThanks for reaching out, and sorry for the wait. I've checked "
            "with the courier: your parcel for order {order} is at the local depot and should be "
            "out for delivery within 1–2 working days.",
            "Hi {first_name},\n\nI've opened an investigation with the courier, which usually "
            "takes up to 3 working days. I'll update you as soon as I hear back.",
            "Hi {first_name},\n\nI've sent a replacement with express shipping, free of "
            "charge. You'll get the tracking link by email tonight.",
        ],
        "note": [
            "Checked with the warehouse – parcel is stuck at the hub in Leipzig. Reship if no "
            "scan by Friday.",
            "Courier claim filed, reference DHL-CLM-{order}.",
            'Third "not received" from this address this year. Ask for a signature next time.',
        ],
    },
    "Refund request": {
        "ask": [
            "Hi {first_name},\n\nSorry about that! Could you send a photo of the damaged item? "
            "Once I have it I'll process the refund straight away.",
            "Hi {first_name},\n\nCould you confirm how you paid for order {order}? Refunds to "
            "gift cards work a little differently.",
        ],
        "answer": [
            "Here are the photos you asked for.",
            "I paid with PayPal, if that matters.",
            "By card, the one ending 4421.",
        ],
        "resolve": [
            "Hi {first_name},\n\nI've issued a full refund for order {order}. It can take 5–10 "
            "working days to show on your statement, depending on your bank.",
            "Hi {first_name},\n\nYour refund has been processed on our side today. No need to "
            "send the item back – please recycle or donate it.",
        ],
        "note": [
            "Customer has had 3 refunds in 2 months. Check with {agent_other} before approving "
            "another.",
            "Refund approved by finance. @{agent_other} FYI",
        ],
    },
    "Product question": {
        "ask": [
            "Hi {first_name},\n\nHappy to help! Could you tell me a bit more about what you'd "
            "like to use the {product} for?",
        ],
        "answer": [
            "It's for my mum, she's 72 – is that OK?",
            "Mostly for travel, so it needs to fit in hand luggage.",
        ],
        "resolve": [
            "Hi {first_name},\n\nGreat question! The {product} is 100% plant-based. You'll find "
            'the full ingredient list under the "Details" tab on the product page.',
            "Hi {first_name},\n\nWe expect new stock of the {product} in about two weeks. I've "
            "added you to the restock notification list.",
            "Hi {first_name},\n\nOne scoop a day is plenty, and yes, it's fine with coffee.",
        ],
        "note": ["Asked the product team to add dimensions to the {product} page."],
    },
    "Subscription": {
        "ask": [
            "Hi {first_name},\n\nI can't find a subscription under this email address. Could "
            "you confirm which address you signed up with?",
        ],
        "answer": [
            "Oh, it's probably my work address – same name, different domain.",
            "The order number is {order}.",
        ],
        "resolve": [
            "Hi {first_name},\n\nDone – your subscription is cancelled and you won't be charged "
            "again. You'll get a confirmation email shortly.",
            "Hi {first_name},\n\nI've skipped your next delivery. Your following one will ship "
            "as usual.",
            "Hi {first_name},\n\nAll set: your {product} will now arrive every 45 days.",
        ],
        "note": [
            "Subscription was paused, not cancelled – the charge was correct. Refunded "
            "as a goodwill gesture anyway."
        ],
    },
    "Technical issue": {
        "ask": [
            "Hi {first_name},\n\nSorry for the trouble! Could you tell me which browser and "
            "device you're using, and send a screenshot of the error?",
        ],
        "answer": [
            "I'm using Chrome on Windows 11. Screenshot attached.",
            "Safari on an iPhone 13. Same error as before.",
        ],
        "resolve": [
            "Hi {first_name},\n\nWe found the problem and fixed it this morning. Could you try "
            "again and let me know if it works now?",
            "Hi {first_name},\n\nI've reset your password manually – you should have an email "
            "with a new link in the next few minutes.",
        ],
        "note": ["Known bug in checkout on iOS Safari, engineering ticket ENG-2291."],
    },
    "Chargeback": {
        "ask": [
            "Hi {first_name},\n\nWe've received a dispute from your bank for order {order}. Our "
            "records show it was delivered on time. If this was a mistake, could you contact "
            "your bank to withdraw the dispute?",
        ],
        "answer": [
            "I'll call my bank tomorrow and let you know.",
            "My husband made the purchase, sorry about that! I've withdrawn the dispute.",
        ],
        "resolve": [
            "Hi {first_name},\n\nThanks for confirming – we've told the payment processor and "
            "the dispute is closed.",
        ],
        "note": [
            "Bank dispute evidence uploaded to the payment processor. Deadline in 7 days.",
            "Called the customer, no answer. Left a voicemail.",
        ],
    },
    None: {
        "ask": [
            "Hi {first_name},\n\nThanks for getting in touch! Could you tell me a little more, "
            "so I can pass this to the right person?",
        ],
        "answer": [
            "Sure – we'd need about 200 units a month to start with.",
            "Great, thanks. And what about returns from Canada?",
        ],
        "resolve": [
            "Hi {first_name},\n\nThanks for your message! Yes, we ship there – delivery usually "
            "takes 5–8 working days.",
            "Hi {first_name},\n\nThank you so much for the kind words, it made our day! 😊",
            "Hi {first_name},\n\nI've passed your details to our partnerships team; they'll be "
            "in touch within a week.",
        ],
        "note": ["Forwarded to partnerships@ – not a support question."],
    },
}

SIGNATURE = "\n\nBest,\n{agent_first}\n" + STORE_NAME + " Support"

# Notes any ticket can carry.
GENERAL_NOTES = [
    "Duplicate of an earlier ticket from the same customer; keeping this one open.",
    "VIP customer – be generous.",
    "Handing over to {agent_other}, I'm off from tomorrow.",
]

# Follow-ups from the customer while they still wait for an answer.
CUSTOMER_NUDGES = [
    "Any update on this? It's been a few days.",
    "Hi again — still nothing. 😕",
    "Hello?? I need this sorted before the weekend.",
    "Just following up on my message below.",
]

CUSTOMER_THANKS = [
    "Thank you so much! 🙏",
    "Perfect, that worked. Thanks {agent_first}!",
    "Great, received it today 📦👍",
    "Thanks for the quick help.",
    "Merci beaucoup !",
    "OK thanks.",
]

AGENT_CLOSERS = [
    "Glad we could help! I'll close this ticket now – just reply if anything else comes up.",
    "You're welcome, {first_name}! Have a lovely day.",
    "Happy to help. Enjoy your order!",
]

# File names customers and agents attach; spaces, brackets and non-latin scripts included.
ATTACHMENT_NAMES = [
    "photo.jpg",
    "IMG_4821.jpeg",
    "damaged box (2).jpg",
    "Screenshot 2026-03-02 at 14.11.09.png",
    "receipt.pdf",
    "Quittung März.pdf",
    "レシート.png",
    "صورة الطرد.jpg",
    "תמונה של המוצר.jpg",
    "订单截图.png",
    "invoice #{order}.pdf",
    "return label.pdf",
    "video of the issue.mp4",
    "café receipt.heic",
]

# -- Hostile content: kept verbatim, never passed through str.format. --

HOSTILE_SCRIPT_SUBJECT = "<script>alert(1)</script> Order never arrived"
HOSTILE_SCRIPT_BODY = (
    'Hello <script>alert("xss")</script>\n\n'
    "<img src=x onerror=alert(1)>\n"
    '<a href="javascript:alert(1)">click here for my receipt</a>\n\n'
    "Please help, the page above is what your site showed me."
)
HOSTILE_TEMPLATE_SUBJECT = "Refund for {{ request.user }} {% debug %}"
HOSTILE_TEMPLATE_BODY = (
    "Hi {{ user.email }},\n\n"
    "{% debug %}\n"
    "{{ settings.SECRET_KEY }} {% load static %}{% static 'x' %}\n"
    "${7*7} #{7*7} <%= 7*7 %>\n\n"
    "Just checking how your templates handle this."
)
HOSTILE_IMG_SUBJECT = '<img src=x onerror=alert(1)> "Urgent" & <b>important</b>'
HOSTILE_IMG_BODY = (
    '<iframe src="https://evil.example/"></iframe>\n'
    "<style>body{display:none}</style>\n"
    "Order number: ' OR 1=1 --"
)
HOSTILE_ATTACHMENT_SUBJECT = "Invoice attached (see file)"
HOSTILE_ATTACHMENT_BODY = "Please see my invoice attached, and the link to the tracking page."
HOSTILE_ATTACHMENTS = [
    ("javascript:alert(1)", "tracking-page.html"),
    (ATTACHMENT_HOST + "/2026/03/x/svg.pdf", '"><svg onload=alert(1)>.pdf'),
]
LONG_SUBJECT = (
    "Re: Re: Fwd: URGENT – order arrived incomplete, missing two of the five items I paid for, "
    "the box was open, the invoice shows a different billing address, the discount code "
    "WELCOME15 was not applied even though the banner promised it would be, and I've already "
    "emailed twice without any answer, so please escalate this to a manager as soon as possible "
    "because I need the items before my daughter's birthday party next Saturday afternoon"
)
LONG_SUBJECT_BODY = (
    "See subject. I'm repeating everything here too because nobody answered my last two "
    "emails.\n\n" + "The missing items are the socks and the matcha. " * 12
)
BOBBY_TABLES = ("Robert'); DROP TABLE tickets;--", "Tables")

# A data: URI attachment, a one-pixel PNG as old mail clients sometimes inline images.
DATA_URI_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
RELATIVE_ATTACHMENT = ("attachments/legacy/scan 0042.tif", "scan 0042.tif")
