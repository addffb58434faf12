"""What the routes answer with: read queries and response bodies per area, the chatbot, the
serializers, and the wrappers that start runs. Routes stay thin; HTTP details stay out of here."""
