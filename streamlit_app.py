from dashboard.app import run

run()
