-- A run evaluates all of a model's requested datasets with one engine, so runs record GPU and inference time
-- per run only. Each (run, dataset, spec) gets the run's times in proportion to its share of the run's tokens
-- (prompt + output), the closest measure of engine work that every prediction records.

with

predictions as (

    select * from {{ ref('stg_predictions') }}

),

runs as (

    select * from {{ ref('stg_runs') }}

),

dataset_tokens as (

    select
        run_id,
        model,
        dataset,
        profile,
        spec_hash,
        count(*) as samples,
        sum(tokens_in)::bigint as tokens_in,
        sum(tokens_out)::bigint as tokens_out

    from predictions
    group by run_id, model, dataset, profile, spec_hash

),

run_tokens as (

    select
        run_id,
        model,
        sum(tokens_in + tokens_out)::bigint as tokens

    from dataset_tokens
    group by run_id, model

),

token_shares as (

    select
        dataset_tokens.*,
        (dataset_tokens.tokens_in + dataset_tokens.tokens_out) / nullif(run_tokens.tokens, 0) as token_share

    from dataset_tokens
    inner join run_tokens
        on dataset_tokens.run_id = run_tokens.run_id
        and dataset_tokens.model = run_tokens.model

),

final as (

    select
        token_shares.run_id,
        token_shares.model,
        token_shares.dataset,
        token_shares.profile,
        token_shares.spec_hash,
        token_shares.samples,
        token_shares.tokens_in,
        token_shares.tokens_out,
        token_shares.token_share,
        runs.gpu_seconds * token_shares.token_share as gpu_seconds,
        runs.inference_s * token_shares.token_share as inference_s

    from token_shares
    -- predictions of a run that died before recording itself have no times to share
    inner join runs
        on token_shares.run_id = runs.run_id
        and token_shares.model = runs.model

)

select * from final
