-- Runs once, when the postgres volume is first initialised: MLflow gets its own role and database
-- next to Airflow's metadata database.
CREATE ROLE mlflow WITH LOGIN PASSWORD 'mlflow';
CREATE DATABASE mlflow OWNER mlflow;
