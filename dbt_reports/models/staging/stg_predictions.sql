with

source as (

    select * from {{ source('evals', 'predictions') }}

),

renamed as (

    select
        -- ids
        model,
        dataset,
        profile,
        spec_hash,
        item_id,
        item_group,
        run_id,
        prompt_hash,
        weights_revision,
        engine_hash,
        tokenizer_hash,
        request_digest,

        -- outputs
        outputs,
        finish_reasons,
        logprobs,
        error,

        -- numerics
        tokens_in,
        tokens_out,
        latency_s,

        -- timestamps
        created_at

    from source

)

select * from renamed
