"""What a sweep runs on: shipped data sets, behaviour recipes (contrast pairs, prompts, answer-token
sets), helpfulness tasks and judges of generated text."""
