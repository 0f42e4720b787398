"""The product API of the lecture's compose stack.

Products live in PostgreSQL (DATABASE_URL); Redis (REDIS_URL) caches the
product list and counts requests.

GET /products        all products, as a JSON list (cached in Redis for 30 s)
GET /products/<id>   one product, or 404
GET /health          {"status": "ok"} when PostgreSQL and Redis answer
"""

import json
import os
import time
from contextlib import closing

import psycopg2
import psycopg2.extras
import redis
from flask import Flask, jsonify

DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql://products:products@postgres:5432/products"
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://redis:6379/0")

SEED = [
    ("Laptop", 999.99, True),
    ("Mouse", 24.99, True),
    ("Keyboard", 74.5, False),
    ("Monitor", 189.0, True),
]

app = Flask(__name__)
cache = redis.Redis.from_url(REDIS_URL)


def connect(retries=30):
    """Connect to PostgreSQL, waiting for it to accept connections."""
    for attempt in range(retries):
        try:
            return psycopg2.connect(DATABASE_URL)
        except psycopg2.OperationalError:
            if attempt == retries - 1:
                raise
            time.sleep(1)


def init_db():
    with closing(connect()) as conn, conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS products ("
            " id SERIAL PRIMARY KEY, name TEXT NOT NULL,"
            " price NUMERIC(10, 2) NOT NULL, in_stock BOOLEAN NOT NULL)"
        )
        cur.execute("SELECT count(*) FROM products")
        if cur.fetchone()[0] == 0:
            cur.executemany(
                "INSERT INTO products (name, price, in_stock) VALUES (%s, %s, %s)",
                SEED,
            )


def rows(query, args=()):
    with closing(connect()) as conn, conn:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query, args)
            return [
                {**row, "price": float(row["price"])} for row in cur.fetchall()
            ]


@app.get("/products")
def list_products():
    cache.incr("requests")
    cached = cache.get("products")
    if cached is not None:
        return jsonify(json.loads(cached))
    products = rows("SELECT id, name, price, in_stock FROM products ORDER BY id")
    cache.setex("products", 30, json.dumps(products))
    return jsonify(products)


@app.get("/products/<int:product_id>")
def get_product(product_id):
    cache.incr("requests")
    found = rows(
        "SELECT id, name, price, in_stock FROM products WHERE id = %s", (product_id,)
    )
    if not found:
        return jsonify({"error": f"product {product_id} not found"}), 404
    return jsonify(found[0])


@app.get("/health")
def health():
    try:
        cache.ping()
        with closing(connect(retries=1)) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    except (redis.RedisError, psycopg2.Error) as err:
        return jsonify({"status": "unavailable", "error": str(err)}), 503
    return jsonify({"status": "ok"})


if __name__ == "__main__":
    init_db()
    # FLASK_ENV=development (the compose file's): reload when app.py changes,
    # the lecture's hot reload through the `.:/app` volume. Flask 3 no longer
    # reads FLASK_ENV itself.
    app.run(host="0.0.0.0", port=5000, debug=os.environ.get("FLASK_ENV") == "development")
