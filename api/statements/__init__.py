"""Members' monthly statements (`quartier statement`): what a member shared with its
neighbours day by day, what it paid and was paid, its bill with and without the community
(the Walloon rule of `api.economics`), its 15-minute peak and the audit's verdict, all from
the chain and the tariff file, rendered in French, Dutch or English (Jinja2 templates, Babel
catalogues) as HTML and PDF."""
