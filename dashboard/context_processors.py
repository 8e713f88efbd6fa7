from django.conf import settings


def store(request):
    """Whether pages are showing the built-in sandbox store rather than a real one."""
    return {"SANDBOX": settings.SANDBOX}
