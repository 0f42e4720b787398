"""The lecture's product API: a small Flask app to containerize.

GET /products        all products, as a JSON list
GET /products/<id>   one product, or 404
GET /health          {"status": "ok"}
"""

from flask import Flask, jsonify

app = Flask(__name__)

PRODUCTS = [
    {"id": 1, "name": "Laptop", "price": 999.99, "in_stock": True},
    {"id": 2, "name": "Mouse", "price": 24.99, "in_stock": True},
    {"id": 3, "name": "Keyboard", "price": 74.5, "in_stock": False},
    {"id": 4, "name": "Monitor", "price": 189.0, "in_stock": True},
]


@app.get("/products")
def list_products():
    return jsonify(PRODUCTS)


@app.get("/products/<int:product_id>")
def get_product(product_id):
    for product in PRODUCTS:
        if product["id"] == product_id:
            return jsonify(product)
    return jsonify({"error": f"product {product_id} not found"}), 404


@app.get("/health")
def health():
    return jsonify({"status": "ok"})


if __name__ == "__main__":
    # 0.0.0.0: reachable from outside the container, not only its loopback.
    app.run(host="0.0.0.0", port=5000)
