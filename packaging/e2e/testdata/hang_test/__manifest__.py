# The end-to-end test's routes that hold an Odoo worker: a request that
# sleeps, one stuck in a query, one that allocates memory and keeps it.
{
    'name': 'hang_test',
    'version': '18.0.1.0',
    'depends': ['base', 'web'],
    'license': 'LGPL-3',
    'installable': True,
}
