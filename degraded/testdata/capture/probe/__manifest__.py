# A test addon that makes Odoo hit its own limits on request, so the lines
# Odoo logs when it does are captured from the real server (see capture.sh).
{
    'name': 'Limit probe',
    'version': '18.0.1.0.0',
    'category': 'Hidden',
    'depends': ['base', 'web'],
    'data': ['data/ir_cron.xml'],
    'installable': True,
    'license': 'LGPL-3',
}
