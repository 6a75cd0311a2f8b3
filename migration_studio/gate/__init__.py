"""The release gate (``predeploycheck``): is a plan of migrations fit to deploy on a database?"""
