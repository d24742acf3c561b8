from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "simulator"
    verbose_name = "Nova resize simulator"
    default_auto_field = "django.db.models.BigAutoField"
