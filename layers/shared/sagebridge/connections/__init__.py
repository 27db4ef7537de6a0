"""A tenant's connection to Sage, whichever product: token lifecycle (single-flight refresh,
keep-alive, revoke), warnings before a grant ends, the OAuth connect flow, and the container
defaults the products' builders start from. Product-neutral: it names no product, and it imports
no engine (sagebridge.sync)."""
